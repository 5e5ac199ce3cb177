"""EventTriggers at run time: shared watch streams, `when` transitions, firing the Tasks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client

from taskengine import metrics, timestamps
from taskengine.api import eventtrigger
from taskengine.engine.groups import GroupOccurrence
from taskengine.engine.occurrence import Occurrence
from taskengine.kube import discovery as discovery_
from taskengine.kube import status as status_
from taskengine.reconcile import catalog as catalog_
from taskengine.reconcile.catalog import Key
from taskengine.triggers import matching, watches

logger = logging.getLogger("taskengine.events")
VERSION_PUBLISH_SECONDS = 2.0


def stream_key(namespace: str, spec: eventtrigger.EventTriggerSpec) -> watches.StreamKey:
    resource = spec.resource
    return watches.StreamKey(
        api_version=resource.api_version, kind=resource.kind, namespace=resource.namespace or namespace,
        selector=resource.selector.to_query() if resource.selector else "", name=resource.name,
    )


class EventTriggers:
    def __init__(
        self,
        *,
        catalog: catalog_.Catalog,
        submit: Callable[[Occurrence], Awaitable[str | None]],
        writer: status_.StatusWriter,
        api: client.ApiClient,
        discovery: discovery_.Discovery,
        submit_group: Callable[[GroupOccurrence], Awaitable[str | None]],
        watch_seconds: int = 300,
    ) -> None:
        self._catalog = catalog
        self._submit = submit
        self._submit_group = submit_group
        self._writer = writer
        self._api = api
        self._discovery = discovery
        self._watch_seconds = watch_seconds
        self._streams: dict[watches.StreamKey, watches.Stream] = {}
        self._subscribers: dict[watches.StreamKey, set[Key]] = {}
        self._subscribed: dict[Key, watches.StreamKey] = {}
        self._memory: dict[tuple[Key, str], matching.Memory] = {}
        self._counts: dict[Key, int] = {}
        self._holding: dict[tuple[Key, str], asyncio.Task] = {}  # `for`: states waiting to have held long enough
        self._published: dict[watches.StreamKey, float] = {}

    def evaluated(self, entry: catalog_.Entry, ready: bool) -> None:
        if entry.key.kind != "EventTrigger":
            return
        spec = entry.model
        wanted = stream_key(entry.key.namespace, spec) if ready and spec is not None and spec.resource else None
        self._counts.setdefault(entry.key, int(entry.status.get("triggerCount") or 0))
        current = self._subscribed.get(entry.key)
        if current == wanted:
            return
        self._unsubscribe(entry.key)
        if wanted is not None:
            self._subscribed[entry.key] = wanted
            self._subscribers.setdefault(wanted, set()).add(entry.key)
            if wanted not in self._streams:
                stream = watches.Stream(
                    wanted, api=self._api, discovery=self._discovery,
                    handler=lambda event, obj, key=wanted: self._changed(key, event, obj),
                    resume_from=entry.status.get("resourceVersion") if current is None else None,
                    on_version=lambda version, key=wanted: self._seen_version(key, version),
                    watch_seconds=self._watch_seconds,
                )
                self._streams[wanted] = stream
                stream.start()
                metrics.WATCH_STREAMS.set(len(self._streams))

    def _seen_version(self, key: watches.StreamKey, version: str) -> None:
        """Publishes how far the stream got, at most every few seconds: a restart resumes from there."""
        now = time.monotonic()
        if now - self._published.get(key, 0.0) < VERSION_PUBLISH_SECONDS:
            return
        self._published[key] = now
        for trigger in self._subscribers.get(key, ()):
            self._writer.set("eventtriggers", trigger.namespace, trigger.name, {"resourceVersion": version})

    def removed(self, key: Key) -> None:
        if key.kind == "EventTrigger":
            self._unsubscribe(key)
            self._counts.pop(key, None)

    def _unsubscribe(self, trigger: Key) -> None:
        key = self._subscribed.pop(trigger, None)
        if key is None:
            return
        for memory_key in [m for m in self._memory if m[0] == trigger]:
            del self._memory[memory_key]
        for holding_key in [h for h in self._holding if h[0] == trigger]:
            self._holding.pop(holding_key).cancel()
        subscribers = self._subscribers.get(key, set())
        subscribers.discard(trigger)
        if not subscribers:
            self._subscribers.pop(key, None)
            stream = self._streams.pop(key, None)
            metrics.WATCH_STREAMS.set(len(self._streams))
            if stream is not None:
                asyncio.ensure_future(stream.stop())  # the stream stops when no trigger needs it

    async def close(self) -> None:
        for waiting in self._holding.values():
            waiting.cancel()
        await asyncio.gather(*(stream.stop() for stream in self._streams.values()))
        self._streams.clear()

    async def _changed(self, key: watches.StreamKey, event: str, obj: dict[str, Any]) -> None:
        uid = obj["metadata"]["uid"]
        for trigger in sorted(self._subscribers.get(key, ())):
            entry = self._catalog.get(trigger)
            if entry is None or entry.model is None:
                continue
            spec = entry.model
            before = self._memory.get((trigger, uid))
            if event == "Deleted":
                self._memory.pop((trigger, uid), None)
            else:
                self._memory[(trigger, uid)] = matching.remember(obj, spec.when)
            if event != "Listed" and matching.fires(event, obj, before, spec):
                if spec.for_ and event != "Deleted":
                    self._hold(trigger, uid, event, obj, matching.seconds(spec.for_))
                else:
                    await self._fire(entry, event, obj)
            elif (trigger, uid) in self._holding and not (self._memory.get((trigger, uid)) or matching.Memory(False, ())).matched:
                self._holding.pop((trigger, uid)).cancel()  # the state did not hold long enough

    def _hold(self, trigger: Key, uid: str, event: str, obj: dict[str, Any], duration: float) -> None:
        """`for`: fire only if the matching state still holds after `duration`."""
        if (trigger, uid) in self._holding:
            return  # already waiting since the state began

        async def wait() -> None:
            await asyncio.sleep(duration)
            self._holding.pop((trigger, uid), None)
            memory, entry = self._memory.get((trigger, uid)), self._catalog.get(trigger)
            if memory is not None and memory.matched and entry is not None and entry.model is not None:
                await self._fire(entry, event, obj)

        self._holding[(trigger, uid)] = asyncio.create_task(wait())

    async def _fire(self, trigger: catalog_.Entry, event: str, obj: dict[str, Any]) -> None:
        metadata = obj["metadata"]
        reference = {
            "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "namespace": metadata.get("namespace"),
            "name": metadata.get("name"), "uid": metadata.get("uid"), "resourceVersion": metadata.get("resourceVersion"),
        }
        cause = f"{metadata.get('uid')}/{metadata.get('resourceVersion')}/{event}"
        await self._run(trigger, trigger_type="Event", cause=cause, event={"type": event, "object": reference}, obj=obj)

    async def fire_webhook(self, trigger: catalog_.Entry, cause: str, payload: Any, params: dict[str, str]) -> list[str]:
        """An authenticated call of the trigger's incoming webhook."""
        return await self._run(trigger, trigger_type="Webhook", cause=cause, payload=payload, params=params)

    async def _run(self, trigger: catalog_.Entry, **cause: Any) -> list[str]:
        """Runs every active Task and TaskGroup that lists the trigger; the TaskLog and group run names."""
        names = []
        for key in sorted(self._catalog.referrers(trigger.key)):
            task = self._catalog.get(key)
            if key.kind != "Task" or task is None or not self._catalog.task_active(task):
                continue
            occurrence = Occurrence(namespace=key.namespace, task=key.name, task_uid=task.uid, trigger_name=trigger.key.name, **cause)
            try:
                await self._submit(occurrence)
            except client.ApiException as error:
                logger.error("Task %s/%s: the run for trigger %s could not start: HTTP %s", key.namespace, key.name, trigger.key.name, error.status)
                continue
            names.append(occurrence.tasklog_name)
        for group in self._catalog.active_groups(trigger.key):
            started = await self._submit_group(GroupOccurrence(
                namespace=group.key.namespace, group=group.key.name, group_uid=group.uid, trigger_name=trigger.key.name, **cause,
            ))
            if started:
                names.append(started)
        metrics.TRIGGER_FIRES.labels(trigger.key.namespace, trigger.key.name).inc()
        count = self._counts.get(trigger.key, 0) + 1
        self._counts[trigger.key] = count
        self._writer.set("eventtriggers", trigger.key.namespace, trigger.key.name, {
            "triggerCount": count, "lastTriggered": timestamps.rfc3339(timestamps.now()),
        })
        return names
