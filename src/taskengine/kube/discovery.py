"""Which kinds the cluster serves, found through API discovery and cached briefly."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from kubernetes_asyncio import client

CACHE_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


class DiscoveryError(Exception):
    """Discovery itself failed (not: the kind is not served)."""


class Discovery:
    """Looks kinds up per group/version; a miss is re-checked after CACHE_SECONDS or invalidate()."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._cache: dict[str, tuple[float, dict[str, Resource]]] = {}
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._cache.clear()

    async def find(self, api_version: str, kind: str) -> Resource | None:
        return (await self._group_version(api_version)).get(kind)

    async def _group_version(self, api_version: str) -> dict[str, Resource]:
        async with self._lock:
            cached = self._cache.get(api_version)
            if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                document = await self._api.call_api(
                    path, "GET", response_types_map={200: "object"}, auth_settings=["BearerToken"],
                    _return_http_data_only=True,
                )
            except client.ApiException as error:
                if error.status != 404:
                    raise DiscoveryError(f"discovery of {api_version} failed: HTTP {error.status} {error.reason}") from error
                document = {"resources": []}
            resources = {
                item["kind"]: Resource(
                    api_version=api_version,
                    kind=item["kind"],
                    plural=item["name"],
                    namespaced=bool(item.get("namespaced")),
                    verbs=frozenset(item.get("verbs", ())),
                )
                for item in document.get("resources", [])
                if "/" not in item["name"]  # subresources such as deployments/scale
            }
            self._cache[api_version] = (time.monotonic(), resources)
            return resources
