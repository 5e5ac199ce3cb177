"""scale: set spec.replicas, or restore the count saved when a task last scaled the object."""

from __future__ import annotations

from typing import Any

from taskengine.actions import _targets, base

SAVED_REPLICAS = "taskengine.io/saved-replicas"


class Scale:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        spec = ctx.task.action.scale
        resource = await _targets.resource_of(ctx, target)
        namespace, name = _targets.coordinates(target)
        current = (target.get("spec") or {}).get("replicas")
        if current is None:
            raise base.ActionFailed(f"{target['kind']} {name} has no spec.replicas to scale")
        if spec.restore:
            saved = (target["metadata"].get("annotations") or {}).get(SAVED_REPLICAS)
            if saved is None:
                raise base.ActionFailed(f"{target['kind']} {name} has no saved replica count: no task has scaled it yet")
            replicas = int(saved)
            patch: dict[str, Any] = {"spec": {"replicas": replicas}}
        else:
            replicas = spec.replicas
            patch = {"metadata": {"annotations": {SAVED_REPLICAS: str(current)}}, "spec": {"replicas": replicas}}
        await _targets.call(f"scale {target['kind']} {name}", ctx.objects.patch(resource, namespace, name, patch))
        return base.Result(f"scaled from {current} to {replicas} replicas")
