"""Kopf handlers: watch events feed the Reconciler (status) and the Engine (runs).

Only event handlers are used, never Kopf's create/update handlers: those store progress in
annotations and add finalizers, and the status we write is computed afresh from the whole
picture anyway. So the operator writes nothing but `status` on users' objects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from kubernetes_asyncio import client

from taskengine.api import common, kinds
from taskengine.engine import engine as engine_
from taskengine.engine import groups as groups_
from taskengine.engine import records
from taskengine.http import api as rest
from taskengine.http import hooks
from taskengine.kube import client as client_
from taskengine.kube import discovery, objects, status
from taskengine.reconcile import catalog
from taskengine.reconcile import reconciler as reconciler_
from taskengine.triggers import events as event_triggers
from taskengine.triggers import schedules as triggers
from taskengine.settings import Settings

logger = logging.getLogger("taskengine")


def register(registry: kopf.OperatorRegistry, config: Settings) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def start(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.peering.standalone = True
        settings.watching.server_timeout = config.watch_timeout_seconds
        clients = await client_.connect()
        finder = discovery.Discovery(clients.operator)
        reconciler = reconciler_.Reconciler(
            api=clients.operator,
            discovery=finder,
            settle_seconds=config.settle_seconds,
            startup_seconds=config.startup_seconds,
        )
        engine = engine_.Engine(clients=clients, discovery=finder, on_task_changed=reconciler.touch)
        writer = status.StatusWriter(clients.operator)
        groups = groups_.GroupRuns(
            lookup=_group_lookup(reconciler.catalog), engine=engine, records=records.Records(clients.operator),
            on_group_changed=reconciler.touch_group,
        )
        schedules = triggers.ScheduleTriggers(catalog=reconciler.catalog, submit=engine.submit, submit_group=groups.submit, writer=writer)
        events = event_triggers.EventTriggers(
            catalog=reconciler.catalog, submit=engine.submit, submit_group=groups.submit, writer=writer, api=clients.operator,
            discovery=finder, watch_seconds=config.watch_timeout_seconds,
        )

        def is_running(key: catalog.Key) -> bool:
            if key.kind == "TaskGroup":
                return groups.is_running(key.namespace, key.name)
            return key.kind == "Task" and engine.is_running(key.namespace, key.name)

        reconciler.is_running = is_running

        def evaluated(entry: catalog.Entry, ready: bool) -> None:
            schedules.evaluated(entry, ready)
            events.evaluated(entry, ready)

        def removed(key: catalog.Key) -> None:
            schedules.removed(key)
            events.removed(key)

        reconciler.on_evaluated, reconciler.on_removed = evaluated, removed
        await engine.recover(config.namespaces)
        await groups.recover(config.namespaces)
        memo.clients, memo.reconciler, memo.engine, memo.events, memo.groups = clients, reconciler, engine, events, groups
        memo.http = None
        if config.http_port:
            app = hooks.application(catalog=reconciler.catalog, api=clients.operator, fire=events.fire_webhook)
            rest.add_routes(app, catalog=reconciler.catalog, api=clients.operator, submit=engine.submit, submit_group=groups.submit)
            memo.http = await hooks.serve(app, port=config.http_port)
        memo.workers = [
            asyncio.create_task(reconciler.run(), name="taskengine-reconciler"),
            asyncio.create_task(schedules.scheduler.run(), name="taskengine-scheduler"),
            asyncio.create_task(writer.run(), name="taskengine-status-writer"),
        ]

    @kopf.on.cleanup(registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        for worker in memo.workers:
            worker.cancel()
        await asyncio.gather(*memo.workers, return_exceptions=True)
        if memo.http is not None:
            await memo.http.cleanup()
        await memo.events.close()
        await memo.engine.close()
        await memo.clients.close()

    for kind in kinds.ALL:
        if kind is not kinds.TASK_LOG:
            _watch_kind(registry, kind.kind, kind.plural)

    @kopf.on.event(common.GROUP, common.VERSION, "tasklogs", registry=registry)
    async def tasklog_event(event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        memo.engine.observe_tasklog(event.get("type"), {"metadata": dict(body.metadata), "spec": dict(body.spec)})

    @kopf.on.event("v1", "secrets", registry=registry)
    async def secret_event(event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        memo.reconciler.observe_secret(event.get("type"), {"metadata": dict(body.metadata), "data": body.get("data")})

    @kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions", registry=registry)
    async def crd_event(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
        if event.get("type") in ("ADDED", "DELETED", "MODIFIED"):
            memo.reconciler.kinds_changed()


def _watch_kind(registry: kopf.OperatorRegistry, kind: str, plural: str) -> None:
    @kopf.on.event(common.GROUP, common.VERSION, plural, registry=registry, id=f"observe-{plural}")
    async def observe(event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        plain = {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
        memo.reconciler.observe(kind, event.get("type"), plain)
        run_requests = {"Task": memo.engine.observe_task, "TaskGroup": memo.groups.observe_group}.get(kind)
        if run_requests is None or event.get("type") == "DELETED":
            return
        where = f"{kind} {body.metadata.get('namespace')}/{body.metadata.get('name')}"
        try:
            await run_requests(plain)
        except client.ApiException as error:  # e.g. the namespace is being deleted
            logger.error("%s: the requested run could not start: %s", where, objects.api_error_message(error))
        except Exception:  # noqa: BLE001 - one object's run request must not stop the others'
            logger.exception("%s: starting the requested run failed", where)

def _group_lookup(known: catalog.Catalog):
    """What a group run needs of a TaskGroup and its members, from the catalog as it is now."""

    def lookup(namespace: str, name: str) -> groups_.Group | None:
        entry = known.get(catalog.Key("TaskGroup", namespace, name))
        if entry is None or entry.model is None:
            return None
        members = {
            member.key.name: groups_.Member(member.key.name, member.uid, tuple(member.model.depends_on), member.model.run_if)
            for member in known.group_members(namespace, name)
            if member.model is not None
        }
        return groups_.Group(name=name, uid=entry.uid, spec=entry.model, members=members)

    return lookup
