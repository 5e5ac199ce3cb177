"""patch: a merge, JSON or strategic-merge patch, variables expanded."""

from __future__ import annotations

from typing import Any

from taskengine.actions import _targets, base
from taskengine import variables


class Patch:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        spec = ctx.task.action.patch
        resource = await _targets.resource_of(ctx, target)
        namespace, name = _targets.coordinates(target)
        body = variables.expand_all(spec.patch, ctx.variables.with_target(target))
        await _targets.call(
            f"patch {target['kind']} {name}", ctx.objects.patch(resource, namespace, name, body, patch_type=spec.type)
        )
        return base.Result(f"patched ({spec.type})")
