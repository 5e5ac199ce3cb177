"""Objects of any kind, by discovery's Resource: get, list by selector, create, patch, delete."""

from __future__ import annotations

import json
from typing import Any

from kubernetes_asyncio import client

from taskengine.kube.discovery import Resource

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


def api_error_message(error: client.ApiException) -> str:
    """The API server's own message (e.g. "... is forbidden: User ... cannot patch ...")."""
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"HTTP {error.status} {error.reason}"


def path(resource: Resource, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
    base = "/api/v1" if resource.api_version == "v1" else f"/apis/{resource.api_version}"
    parts = [base]
    if resource.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(resource.plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Objects:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api

    async def _call(self, method: str, url: str, *, body: Any = None, query: list | None = None, content_type: str = "application/json") -> Any:
        return await self._api.call_api(
            url, method,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )

    async def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        return await self._call("GET", path(resource, namespace, name))

    async def list(self, resource: Resource, namespace: str | None, *, selector: str = "", limit: int | None = None) -> list[dict[str, Any]]:
        query: list[tuple[str, Any]] = []
        if selector:
            query.append(("labelSelector", selector))
        if limit:
            query.append(("limit", limit))
        result = await self._call("GET", path(resource, namespace), query=query)
        kind = resource.kind
        items = result.get("items", [])
        for item in items:  # list items carry no apiVersion/kind
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", kind)
        return items

    async def create(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path(resource, namespace), body=body)

    async def patch(self, resource: Resource, namespace: str | None, name: str, body: Any, *, patch_type: str = "merge", subresource: str | None = None) -> dict[str, Any]:
        return await self._call("PATCH", path(resource, namespace, name, subresource), body=body, content_type=PATCH_TYPES[patch_type])

    async def delete(self, resource: Resource, namespace: str | None, name: str, *, propagation: str = "Background") -> Any:
        return await self._call("DELETE", path(resource, namespace, name), body={"propagationPolicy": propagation})
