"""delete: delete the target."""

from __future__ import annotations

from typing import Any

from taskengine.actions import _targets, base


class Delete:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        policy = ctx.task.action.delete.propagation_policy
        resource = await _targets.resource_of(ctx, target)
        namespace, name = _targets.coordinates(target)
        await _targets.call(
            f"delete {target['kind']} {name}", ctx.objects.delete(resource, namespace, name, propagation=policy)
        )
        return base.Result(f"deleted ({policy})")
