"""What the operator's own identity may do, asked of the API server (SelfSubjectAccessReview)."""

from __future__ import annotations

import time

from kubernetes_asyncio import client

CACHE_SECONDS = 30.0


class Access:
    def __init__(self, api: client.ApiClient) -> None:
        self._authorization = client.AuthorizationV1Api(api)
        self._cache: dict[tuple[str, str, str, str], tuple[float, bool]] = {}

    async def allowed(self, verb: str, *, group: str, resource: str, namespace: str) -> bool:
        key = (verb, group, resource, namespace)
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        review = await self._authorization.create_self_subject_access_review({
            "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace}},
        })
        allowed = bool(review.status.allowed)
        self._cache[key] = (time.monotonic(), allowed)
        return allowed
