"""Which objects a run acts on: one by name, or every object carrying a tag, within maxTargets."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from taskengine.actions import base
from taskengine.kube import discovery as discovery_
from taskengine.kube import objects as objects_


async def resolve(ctx: base.RunContext) -> list[dict[str, Any] | None]:
    """The target objects, read as the Task's ServiceAccount; [None] for a run without a target.

    A selector that matches more than maxTargets fails here, before any object is touched.
    """
    target = ctx.task.target
    if target is None:
        return [None]
    try:
        resource = await ctx.discovery.find(target.api_version, target.kind)
    except discovery_.DiscoveryError as error:
        raise base.ActionFailed(str(error)) from None
    if resource is None:
        raise base.ActionFailed(f'the cluster does not serve kind "{target.kind}" in "{target.api_version}"')
    namespace = (target.namespace or ctx.namespace) if resource.namespaced else None
    where = f' in namespace "{namespace}"' if namespace else ""
    try:
        if target.name:
            return [await ctx.objects.get(resource, namespace, target.name)]
        found = await ctx.objects.list(resource, namespace, selector=target.selector.to_query(), limit=target.max_targets + 1)
    except client.ApiException as error:
        if error.status == 404 and target.name:
            raise base.ActionFailed(f'{target.kind} "{target.name}" not found{where}') from None
        raise base.ActionFailed(f"reading the targets: {objects_.api_error_message(error)}") from None
    if len(found) > target.max_targets:
        raise base.ActionFailed(
            f"the selector matches more than maxTargets ({target.max_targets}) {resource.plural}{where}; nothing was touched"
        )
    return found


def describe(target: dict[str, Any] | None, ctx: base.RunContext) -> tuple[str, dict[str, Any]]:
    """A key for the target and its entry in the TaskLog's status.targets (no name: no target)."""
    if target is None:
        return "-", {}
    metadata = target.get("metadata", {})
    entry = {"apiVersion": target.get("apiVersion"), "kind": target.get("kind"), "name": metadata.get("name")}
    if metadata.get("namespace"):
        entry["namespace"] = metadata["namespace"]
    return f"{entry.get('namespace', '')}/{entry['name']}", entry
