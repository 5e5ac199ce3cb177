"""Status fields written in the background, the latest value per object winning.

Timers re-arm thousands of schedules at start-up; each wants to publish its next fire time.
Writing them through one coalescing queue keeps the API server's load bounded and a burst of
updates to one object down to one request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubernetes_asyncio import client

from taskengine.api import common

logger = logging.getLogger("taskengine.kube")


class StatusWriter:
    def __init__(self, api: client.ApiClient, *, concurrency: int = 8) -> None:
        self._objects = client.CustomObjectsApi(api)
        self._pending: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._written: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._wakeup = asyncio.Event()
        self._concurrency = concurrency

    def set(self, plural: str, namespace: str, name: str, fields: dict[str, Any]) -> None:
        key = (plural, namespace, name)
        merged = {**self._pending.get(key, {}), **fields}
        if all(self._written.get(key, {}).get(field) == value for field, value in merged.items()):
            self._pending.pop(key, None)
            return  # already says so
        self._pending[key] = merged
        self._wakeup.set()

    def seen(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What the object's status already says (from a watch event): no need to write it again."""
        self._written[(plural, namespace, name)] = dict(status)

    def forget(self, plural: str, namespace: str, name: str) -> None:
        self._pending.pop((plural, namespace, name), None)
        self._written.pop((plural, namespace, name), None)

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, {}
            limit = asyncio.Semaphore(self._concurrency)
            await asyncio.gather(*(self._write(key, fields, limit) for key, fields in batch.items()))

    async def _write(self, key: tuple[str, str, str], fields: dict[str, Any], limit: asyncio.Semaphore) -> None:
        plural, namespace, name = key
        async with limit:
            try:
                await self._objects.patch_namespaced_custom_object_status(
                    common.GROUP, common.VERSION, namespace, plural, name, {"status": fields},
                    _content_type="application/merge-patch+json",
                )
            except client.ApiException as error:
                if error.status != 404:
                    logger.warning("status of %s %s/%s not written: HTTP %s", plural, namespace, name, error.status)
                return
        self._written[key] = {**self._written.get(key, {}), **fields}
