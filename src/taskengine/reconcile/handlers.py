"""Kopf handlers: watch events of our kinds, Secrets and CRDs feed the Reconciler.

Only event handlers are used, never Kopf's create/update handlers: those store progress in
annotations and add finalizers, and the status we write is computed afresh from the whole
picture anyway. So the operator writes nothing but `status` on our objects.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from taskengine.api import common, kinds
from taskengine.kube import client as client_
from taskengine.kube import discovery
from taskengine.reconcile import reconciler as reconciler_
from taskengine.settings import Settings


def register(registry: kopf.OperatorRegistry, config: Settings) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def start(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.peering.standalone = True
        settings.watching.server_timeout = 300
        api = await client_.connect()
        memo.api = api
        memo.reconciler = reconciler_.Reconciler(
            api=api,
            discovery=discovery.Discovery(api),
            settle_seconds=config.settle_seconds,
            startup_seconds=config.startup_seconds,
        )
        memo.worker = asyncio.create_task(memo.reconciler.run(), name="taskengine-reconciler")

    @kopf.on.cleanup(registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        memo.worker.cancel()
        await asyncio.gather(memo.worker, return_exceptions=True)
        await memo.api.close()

    for kind in kinds.ALL:
        if kind is kinds.TASK_LOG:
            continue
        _watch_kind(registry, kind.kind, kind.plural)

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
        memo.reconciler.observe(kind, event.get("type"), _plain(body))


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {
        "metadata": dict(body.metadata),
        "spec": dict(body.spec),
        "status": dict(body.status),
    }
