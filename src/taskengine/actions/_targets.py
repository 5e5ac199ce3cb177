"""Helpers shared by the actions that work on target objects."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from taskengine.actions import base
from taskengine.kube import discovery as discovery_
from taskengine.kube import objects as objects_


async def resource_of(ctx: base.RunContext, obj: dict[str, Any]) -> discovery_.Resource:
    try:
        resource = await ctx.discovery.find(obj["apiVersion"], obj["kind"])
    except discovery_.DiscoveryError as error:
        raise base.ActionFailed(str(error)) from None
    if resource is None:
        raise base.ActionFailed(f'the cluster does not serve kind "{obj["kind"]}" in "{obj["apiVersion"]}"')
    return resource


def coordinates(obj: dict[str, Any]) -> tuple[str | None, str]:
    metadata = obj.get("metadata", {})
    return metadata.get("namespace"), metadata["name"]


async def call(what: str, coroutine: Any) -> Any:
    """Awaits an API call; the API server's refusal becomes an ActionFailed with its message."""
    try:
        return await coroutine
    except client.ApiException as error:
        raise base.ActionFailed(f"{what}: {objects_.api_error_message(error)}") from None
