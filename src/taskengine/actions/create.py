"""create: an object from a manifest, variables expanded."""

from __future__ import annotations

import copy
from typing import Any

from taskengine.actions import _targets, base
from taskengine import variables


class Create:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        scope = ctx.variables.with_target(target) if target else ctx.variables
        manifest = variables.expand_all(copy.deepcopy(ctx.task.action.create.manifest), scope)
        if "apiVersion" not in manifest or "kind" not in manifest:
            raise base.ActionFailed("spec.action.create.manifest needs apiVersion and kind")
        resource = await _targets.resource_of(ctx, manifest)
        metadata = manifest.setdefault("metadata", {})
        namespace = metadata.setdefault("namespace", ctx.namespace) if resource.namespaced else None
        if not resource.namespaced:
            metadata.pop("namespace", None)
        created = await _targets.call(
            f"create {manifest['kind']} {metadata.get('name') or metadata.get('generateName', '')}",
            ctx.objects.create(resource, namespace, manifest),
        )
        where = f"{namespace}/" if namespace else ""
        return base.Result(f"created {manifest['kind']} {where}{created['metadata']['name']}")
