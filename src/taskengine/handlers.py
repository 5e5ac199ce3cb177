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
        schedules = triggers.ScheduleTriggers(catalog=reconciler.catalog, submit=engine.submit, writer=writer)
        events = event_triggers.EventTriggers(
            catalog=reconciler.catalog, submit=engine.submit, writer=writer, api=clients.operator, discovery=finder,
            watch_seconds=config.watch_timeout_seconds,
        )
        reconciler.is_running = engine.is_running

        def evaluated(entry: catalog.Entry, ready: bool) -> None:
            schedules.evaluated(entry, ready)
            events.evaluated(entry, ready)

        def removed(key: catalog.Key) -> None:
            schedules.removed(key)
            events.removed(key)

        reconciler.on_evaluated, reconciler.on_removed = evaluated, removed
        await engine.recover(config.namespaces)
        memo.clients, memo.reconciler, memo.engine, memo.events = clients, reconciler, engine, events
        memo.http = None
        if config.http_port:
            app = hooks.application(catalog=reconciler.catalog, api=clients.operator, fire=events.fire_webhook)
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
        if kind == "Task" and event.get("type") != "DELETED":
            where = f"{body.metadata.get('namespace')}/{body.metadata.get('name')}"
            try:
                await memo.engine.observe_task(plain)
            except client.ApiException as error:  # e.g. the namespace is being deleted
                logger.error("Task %s: the requested run could not start: %s", where, objects.api_error_message(error))
            except Exception:  # noqa: BLE001 - one Task's run request must not stop the others'
                logger.exception("Task %s: starting the requested run failed", where)
