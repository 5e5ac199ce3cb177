"""Turns watch events into status: a queue of objects to re-evaluate and one worker draining it.

Why a queue rather than evaluating inside each event handler: one change fans out (a new
Schedule makes every Task that names it Ready), the same object is often touched several
times in a burst, and at start-up the lists of the seven kinds arrive one after another.
A short settle delay lets a burst collapse into one evaluation per object, and a longer one
at start-up keeps a Task from flapping to "Schedule not found" only because the Schedules
were listed a moment after the Tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client

from taskengine.api import common, kinds
from taskengine.kube import access
from taskengine.kube import discovery as discovery_
from taskengine.reconcile import catalog as catalog_
from taskengine.reconcile import checks, conditions
from taskengine.reconcile.catalog import Key

logger = logging.getLogger("taskengine.reconcile")
RECHECK_SECONDS = 30.0
RECHECKED = ("Forbidden", "DiscoveryFailed")


class Reconciler:
    def __init__(
        self,
        *,
        api: client.ApiClient,
        discovery: discovery_.Discovery,
        catalog: catalog_.Catalog | None = None,
        settle_seconds: float = 0.1,
        startup_seconds: float = 1.5,
        is_running: Callable[[Key], bool] = lambda key: False,
        on_evaluated: Callable[[catalog_.Entry, bool], None] = lambda entry, ready: None,
        on_removed: Callable[[Key], None] = lambda key: None,
    ) -> None:
        self.on_evaluated = on_evaluated
        self.on_removed = on_removed
        self.is_running = is_running
        self._objects = client.CustomObjectsApi(api)
        self._access = access.Access(api)
        self._discovery = discovery
        self.catalog = catalog or catalog_.Catalog()
        self._settle = settle_seconds
        self._startup = startup_seconds
        self._pending: set[Key] = set()
        self._wakeup = asyncio.Event()

    # -- feeding -------------------------------------------------------------------------

    def observe(self, kind: str, event_type: str | None, body: dict[str, Any]) -> None:
        """One watch event of our kinds."""
        metadata = body.get("metadata", {})
        key = Key(kind, metadata.get("namespace", ""), metadata.get("name", ""))
        if event_type == "DELETED":
            inheriting = self._inheriting_schedules(key)
            previous = self.catalog.remove(key)
            self.on_removed(key)
            self._enqueue(self.catalog.referrers(key) | inheriting)
            self._enqueue(self._group_neighbours(previous))
            return
        inheriting = self._inheriting_schedules(key)
        previous, entry = self.catalog.put(kind, body)
        if previous is entry:
            return  # only status changed: nothing to re-evaluate
        self._enqueue({key} | self.catalog.referrers(key) | inheriting | self._inheriting_schedules(key))
        self._enqueue(self._group_neighbours(previous) | self._group_neighbours(entry))

    def observe_secret(self, event_type: str | None, body: dict[str, Any]) -> None:
        metadata = body.get("metadata", {})
        namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
        if event_type == "DELETED":
            self.catalog.remove_secret(namespace, name)
        elif not self.catalog.put_secret(namespace, name, frozenset((body.get("data") or {}).keys())):
            return
        self._enqueue(self.catalog.referrers(Key("Secret", namespace, name)))

    def touch(self, namespace: str, task: str) -> None:
        """A run of the task started or ended: its phase follows."""
        self._enqueue({Key("Task", namespace, task)})

    def touch_group(self, namespace: str, group: str) -> None:
        """A group run started or ended: the group's phase follows."""
        self._enqueue({Key("TaskGroup", namespace, group)})

    def kinds_changed(self) -> None:
        """A CRD came or went: re-check everything that waits for a kind to be served."""
        self._discovery.invalidate()
        waiting = {
            entry.key
            for entry in self.catalog.entries()
            if any(c.get("reason") in ("KindNotServed", "DiscoveryFailed") for c in entry.status.get("conditions", []))
        }
        self._enqueue(waiting)

    def _waiting_on_the_cluster(self) -> set[Key]:
        """Objects whose problem only the cluster can fix, with no event to tell us (RBAC, discovery)."""
        return {
            entry.key for entry in self.catalog.entries()
            if any(c.get("type") == "Ready" and c.get("reason") in RECHECKED for c in entry.status.get("conditions", []))
        }

    def _inheriting_schedules(self, key: Key) -> set[Key]:
        """Schedules whose time zone or calendar may come from this object: through a group it is, names, or lends a calendar to."""
        groups: set[Key] = set()
        entry = self.catalog.get(key)
        if key.kind == "TaskGroup":
            groups.add(key)
        elif key.kind == "Task" and entry is not None and entry.model is not None and entry.model.group:
            groups.add(Key("TaskGroup", key.namespace, entry.model.group))
        elif key.kind == "Calendar":
            groups |= {k for k in self.catalog.referrers(key) if k.kind == "TaskGroup"}
        schedules = set()
        for group in groups:
            group_entry = self.catalog.get(group)
            users = [group_entry] if group_entry is not None else []
            users += self.catalog.group_members(group.namespace, group.name)
            for user in users:
                schedules |= {Key("Schedule", group.namespace, r.name) for r in user.references if r.kind == "Schedule"}
        return schedules

    def _group_neighbours(self, entry: catalog_.Entry | None) -> set[Key]:
        """A task's group and its members: their dependency checks and graph depend on it."""
        if entry is None or entry.key.kind != "Task" or entry.model is None or not entry.model.group:
            return set()
        namespace, group = entry.key.namespace, entry.model.group
        return {Key("TaskGroup", namespace, group)} | {m.key for m in self.catalog.group_members(namespace, group)}

    def _enqueue(self, keys: set[Key]) -> None:
        if keys:
            self._pending |= keys
            self._wakeup.set()

    # -- the worker ----------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.sleep(self._startup)
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=RECHECK_SECONDS)
            except TimeoutError:
                self._enqueue(self._waiting_on_the_cluster())
                if not self._pending:
                    continue
            await asyncio.sleep(self._settle)
            self._wakeup.clear()
            batch, self._pending = self._pending, set()
            await self._reconcile_all(batch)

    async def _reconcile_all(self, batch: set[Key]) -> None:
        for key in sorted(batch):
            try:
                await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours must not stop every other object's status
                logger.exception("reconciling %s %s/%s failed", *key)

    async def reconcile(self, key: Key) -> None:
        entry = self.catalog.get(key)
        if entry is None:
            return
        running = self.is_running(key)
        outcome = await checks.evaluate(entry, self.catalog, self._discovery, running=running, access=self._access)
        status = self._status(entry, outcome)
        self.on_evaluated(entry, outcome.ready)  # e.g. arm a valid Schedule, even when its status is unchanged
        current = entry.status
        unchanged = all(current.get(field) == value for field, value in status.items() if field != "conditions")
        if unchanged and conditions.same(current.get("conditions", []), status["conditions"]):
            return
        if outcome.problems:
            logger.info("%s %s/%s is not ready: %s", *key, status["conditions"][-1]["message"])
        await self._patch_status(key, status)
        entry.status = {**current, **status}

    def _status(self, entry: catalog_.Entry, outcome: checks.Outcome) -> dict[str, Any]:
        current = entry.status.get("conditions", [])
        merged = current
        for type_, ok, reason, message in outcome.conditions:
            merged = conditions.merge(merged, type_=type_, status=ok, reason=reason, message=message, generation=entry.generation)
        if outcome.ready:
            ready = dict(status=True, reason="Valid", message="")
        else:
            reasons = list(dict.fromkeys(problem.reason for problem in outcome.problems))
            ready = dict(status=False, reason=reasons[0], message="; ".join(p.message for p in outcome.problems))
        merged = conditions.merge(merged, type_="Ready", generation=entry.generation, **ready)
        return {**outcome.status, "observedGeneration": entry.generation, "conditions": merged}

    async def _patch_status(self, key: Key, status: dict[str, Any]) -> None:
        try:
            await self._objects.patch_namespaced_custom_object_status(
                common.GROUP,
                common.VERSION,
                key.namespace,
                kinds.BY_KIND[key.kind].plural,
                key.name,
                {"status": status},
                _content_type="application/merge-patch+json",
            )
        except client.ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to report on
                raise
