"""Helpers for tests against the real control plane."""

from __future__ import annotations

import dataclasses
import pathlib
import time
import uuid
from typing import Any, Callable

import kubernetes

GROUP, VERSION = "taskengine.io", "v1alpha1"
PLURALS = {
    "Task": "tasks", "TaskGroup": "taskgroups", "Schedule": "schedules", "Calendar": "calendars",
    "EventTrigger": "eventtriggers", "Webhook": "webhooks", "TaskLog": "tasklogs",
}


@dataclasses.dataclass
class Cluster:
    kubeconfig: pathlib.Path
    tools: pathlib.Path | None  # kubectl, helm; None when not built (external cluster without them)
    api: kubernetes.client.ApiClient

    @property
    def objects(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    def tool(self, name: str) -> str:
        if self.tools and (self.tools / name).exists():
            return str(self.tools / name)
        return name  # from PATH

    def create(self, kind: str, namespace: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace, **metadata},
            "spec": spec,
        }
        return self.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], body)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)

    def patch_spec(self, kind: str, namespace: str, name: str, spec: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name, {"spec": spec})

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)

    def create_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_secret(
            namespace, {"metadata": {"name": name}, "stringData": data}
        )

    def condition(self, kind: str, namespace: str, name: str, type_: str = "Ready") -> dict[str, Any] | None:
        conditions = (self.get(kind, namespace, name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c.get("type") == type_), None)

    def wait_condition(
        self, kind: str, namespace: str, name: str, status: str, *, type_: str = "Ready", timeout: float = 30
    ) -> dict[str, Any]:
        """Waits until the condition has `status`; returns it (its reason and message are for the test to check)."""
        return wait_for(
            lambda: (c := self.condition(kind, namespace, name, type_)) and c["status"] == status and c,
            f"{kind} {namespace}/{name}: {type_}={status}",
            timeout=timeout,
            last=lambda: self.condition(kind, namespace, name, type_),
        )


def wait_for(check: Callable[[], Any], what: str, *, timeout: float = 30, last: Callable[[], Any] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            seen = f"; last seen: {last()}" if last else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{seen}")
        time.sleep(0.1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
