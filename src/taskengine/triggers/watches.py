"""List+watch of any kind, chosen at run time: one stream per (kind, namespace, selector).

Kopf cannot watch kinds chosen at run time, and filters labels on the client after listing
everything. Here every distinct (apiVersion, kind, namespace, label selector, name) gets one
stream, shared by all EventTriggers that need it and stopped when none does; the selector is
applied by the API server. Objects present when a stream starts do not fire Created. On
`410 Gone` the stream lists again and turns the difference into events (an object gone
meanwhile is reported Deleted with what is still known of it: its identity and labels), so
nothing is lost or invented.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client

from taskengine.kube import discovery as discovery_
from taskengine.kube import objects as objects_

logger = logging.getLogger("taskengine.watches")
RETRY_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class StreamKey:
    api_version: str
    kind: str
    namespace: str
    selector: str = ""
    name: str | None = None


# called with "Listed" (present when the stream started: remember, do not fire), "Created",
# "Updated" or "Deleted", and the object
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


class Stream:
    def __init__(
        self,
        key: StreamKey,
        *,
        api: client.ApiClient,
        discovery: discovery_.Discovery,
        handler: Handler,
        resume_from: str | None = None,
        on_version: Callable[[str], None] = lambda version: None,
        watch_seconds: int = 300,
    ) -> None:
        """`resume_from`: a resourceVersion seen before a restart; changes since then are replayed.

        `watch_seconds`: how long one watch request lasts before it is renewed from the last version seen.
        """
        self.key = key
        self._api = api
        self._discovery = discovery
        self._handler = handler
        self._resume_from = resume_from
        self._on_version = on_version
        self._watch_seconds = watch_seconds
        self.known: dict[str, tuple[str, dict[str, Any]]] = {}  # uid -> (resourceVersion, the object's identity)
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"watch {self.key}")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                resource = await self._discovery.find(self.key.api_version, self.key.kind)
                if resource is None:
                    raise LookupError(f"{self.key.kind} in {self.key.api_version} is not served")
                version = None
                if self._resume_from:
                    version, self._resume_from = await self._resume(resource, self._resume_from), None
                if version is None:
                    version = await self._list(resource, initial=not self.ready.is_set())
                self.ready.set()
                while version:
                    self._on_version(version)
                    version = await self._watch(resource, version)
            except asyncio.CancelledError:
                raise
            except (client.ApiException, LookupError, OSError, asyncio.TimeoutError, ValueError) as error:
                message = objects_.api_error_message(error) if isinstance(error, client.ApiException) else str(error)
                logger.warning("watch of %s %s in %s: %s; retrying", self.key.api_version, self.key.kind, self.key.namespace, message)
                await asyncio.sleep(RETRY_SECONDS)

    def _query(self) -> list[tuple[str, Any]]:
        query: list[tuple[str, Any]] = []
        if self.key.selector:
            query.append(("labelSelector", self.key.selector))
        if self.key.name:
            query.append(("fieldSelector", f"metadata.name={self.key.name}"))
        return query

    async def _resume(self, resource: discovery_.Resource, version: str) -> str | None:
        """The state as it was at `version` (remembered, not fired); the watch then replays what came after.

        None when etcd has compacted that version away (410): changes older than the API
        server's compaction interval (5 minutes by default) cannot be replayed.
        """
        try:
            listing = await self._api.call_api(
                objects_.path(resource, self.key.namespace), "GET",
                query_params=self._query() + [("resourceVersion", version), ("resourceVersionMatch", "Exact")],
                header_params={"Accept": "application/json"}, response_types_map={200: "object"},
                auth_settings=["BearerToken"], _return_http_data_only=True,
            )
        except client.ApiException as error:
            if error.status in (410, 400, 504):
                logger.warning("watch of %s: resourceVersion %s is too old to resume from; changes made meanwhile are not replayed", self.key.kind, version)
                return None
            raise
        for item in listing.get("items", []):
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
            self.known[item["metadata"]["uid"]] = self._identity(item)
            await self._handler("Listed", item)
        return version

    async def _list(self, resource: discovery_.Resource, *, initial: bool) -> str:
        """Lists; after the first time (a 410), the differences to what was known become events."""
        listing = await self._api.call_api(
            objects_.path(resource, self.key.namespace), "GET", query_params=self._query(),
            header_params={"Accept": "application/json"}, response_types_map={200: "object"},
            auth_settings=["BearerToken"], _return_http_data_only=True,
        )
        current = {}
        for item in listing.get("items", []):
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
            current[item["metadata"]["uid"]] = item
        if not initial:
            for uid, item in current.items():
                if uid not in self.known:
                    await self._handler("Created", item)
                elif self.known[uid][0] != item["metadata"]["resourceVersion"]:
                    await self._handler("Updated", item)
            for uid in set(self.known) - set(current):
                await self._handler("Deleted", self.known[uid][1])  # gone meanwhile: all we still know of it
        else:
            for item in current.values():
                await self._handler("Listed", item)
        self.known = {uid: self._identity(item) for uid, item in current.items()}
        return listing["metadata"]["resourceVersion"]

    @staticmethod
    def _identity(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        metadata = obj["metadata"]
        keep = {key: metadata.get(key) for key in ("name", "namespace", "uid", "resourceVersion", "labels")}
        return metadata["resourceVersion"], {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": keep}

    async def _watch(self, resource: discovery_.Resource, version: str) -> str | None:
        """Watches from `version`; returns the version to go on from, or None to list again (410)."""
        query = self._query() + [("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                                 ("timeoutSeconds", self._watch_seconds)]
        response = await self._api.call_api(
            objects_.path(resource, self.key.namespace), "GET", query_params=query,
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
            _preload_content=False, _request_timeout=self._watch_seconds + 30,
        )
        async with response:
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        logger.info("watch of %s %s in %s: resourceVersion %s expired (410); listing again",
                                    self.key.api_version, self.key.kind, self.key.namespace, version)
                        return None
                    raise ValueError(obj.get("message", "watch error"))
                version = obj.get("metadata", {}).get("resourceVersion", version)
                self._on_version(version)
                if kind == "BOOKMARK":
                    continue
                obj.setdefault("apiVersion", resource.api_version)
                obj.setdefault("kind", resource.kind)
                uid = obj["metadata"]["uid"]
                if kind == "ADDED":
                    self.known[uid] = self._identity(obj)
                    await self._handler("Created", obj)
                elif kind == "MODIFIED":
                    self.known[uid] = self._identity(obj)
                    await self._handler("Updated", obj)
                elif kind == "DELETED":
                    self.known.pop(uid, None)
                    await self._handler("Deleted", obj)
        return version
