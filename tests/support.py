"""Helpers for tests against the real control plane."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys
import time
import uuid
from typing import Any, Callable

import kubernetes
import yaml

from taskengine.dev import controlplane

GROUP, VERSION = "taskengine.io", "v1alpha1"
NAMESPACE_PREFIX = "te"  # the session operator serves te-*; tests with an operator of their own use others
PLURALS = {
    "Task": "tasks", "TaskGroup": "taskgroups", "Schedule": "schedules", "Calendar": "calendars",
    "EventTrigger": "eventtriggers", "Webhook": "webhooks", "TaskLog": "tasklogs",
}


@dataclasses.dataclass
class Cluster:
    kubeconfig: pathlib.Path
    tools: pathlib.Path | None  # kubectl, helm; None when not built (external cluster without them)
    api: kubernetes.client.ApiClient
    plane: "controlplane.ControlPlane | None" = None  # the session's own control plane; None for an external cluster

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
        # Strict, as kubectl is: an unknown field is an error, not silently pruned
        return self.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], body, field_validation="Strict")

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        try:
            self.get(kind, namespace, name)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def exists_service_account(self, namespace: str, name: str) -> bool:
        """Pods can be created only once the namespace's ServiceAccount exists (the controller makes `default`)."""
        return any(account.metadata.name == name for account in self.core.list_namespaced_service_account(namespace).items)

    def patch_spec(self, kind: str, namespace: str, name: str, spec: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name, {"spec": spec})

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)

    def create_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_secret(
            namespace, {"metadata": {"name": name}, "stringData": data}
        )

    def deployment(self, namespace: str, name: str, *, replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
        apps = kubernetes.client.AppsV1Api(self.api)
        return apps.create_namespaced_deployment(namespace, {
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "main", "image": "registry.example/app:1"}]}},
            },
        }).to_dict()

    def replicas(self, namespace: str, name: str) -> int:
        return kubernetes.client.AppsV1Api(self.api).read_namespaced_deployment(name, namespace).spec.replicas

    def grant(self, namespace: str, account: str, rules: list[dict[str, Any]], *, account_namespace: str | None = None) -> None:
        """Lets ServiceAccount `account` (of `account_namespace`, default `namespace`) do `rules` in `namespace`."""
        home = account_namespace or namespace
        try:
            self.core.create_namespaced_service_account(home, {"metadata": {"name": account}})
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
        rbac = kubernetes.client.RbacAuthorizationV1Api(self.api)
        role = unique(account)
        rbac.create_namespaced_role(namespace, {"metadata": {"name": role}, "rules": rules})
        rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": home}],
        })

    def run(self, namespace: str, task: str, *params: str, wait: bool = True) -> tuple[subprocess.CompletedProcess, str]:
        """`taskengine run`; returns the CLI's result and the TaskLog name it printed."""
        args = ["run", task, "-n", namespace, *[arg for p in params for arg in ("--param", p)]]
        if wait:
            args += ["--wait", "--timeout", "60"]
        result = run_cli(self, *args)
        name = result.stdout.splitlines()[0].removeprefix("tasklog.taskengine.io/") if result.stdout else ""
        return result, name

    def kubeconfig_as(self, namespace: str, account: str, path: pathlib.Path) -> pathlib.Path:
        """A kubeconfig for the same server that authenticates as ServiceAccount `account` (a token for an hour)."""
        token = self.core.create_namespaced_service_account_token(account, namespace, {"spec": {"expirationSeconds": 3600}}).status.token
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"] = [{"name": account, "user": {"token": token}}]
        config["contexts"][0]["context"]["user"] = account
        path.write_text(yaml.safe_dump(config))
        return path

    def tasklog(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get("TaskLog", namespace, name)

    def tasklogs(self, namespace: str, task: str) -> list[dict[str, Any]]:
        items = self.objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "tasklogs")["items"]
        return [item for item in items if item["spec"]["task"] == task]

    def wait_phase(self, namespace: str, name: str, *phases: str, timeout: float = 30) -> dict[str, Any]:
        def phase() -> str | None:
            try:
                return (self.tasklog(namespace, name).get("status") or {}).get("phase")
            except kubernetes.client.ApiException:
                return None

        wait_for(lambda: phase() in phases, f"TaskLog {namespace}/{name} in {phases}", timeout=timeout, last=phase)
        return self.tasklog(namespace, name)

    def events(self, namespace: str, name: str) -> list[Any]:
        return self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items

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


FINISHED = ("Succeeded", "Failed", "Terminated", "Skipped")


def run_cli(cluster: "Cluster", *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`taskengine ...` as a user types it, against the test cluster."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "taskengine", *args], capture_output=True, text=True, env=env, timeout=timeout
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


def now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def finish_job(batch: kubernetes.client.BatchV1Api, namespace: str, name: str, outcome: str) -> None:
    moment = now()
    started = batch.read_namespaced_job_status(name, namespace).status.start_time  # immutable once the controller set it
    start = started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else moment
    if outcome == "Complete":
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": moment, "lastTransitionTime": moment},
            {"type": "Complete", "status": "True", "lastProbeTime": moment, "lastTransitionTime": moment},
        ]
        status = {"conditions": conditions, "succeeded": 1, "startTime": start, "completionTime": moment}
    else:
        conditions = [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "the test failed it", "lastProbeTime": moment, "lastTransitionTime": moment},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "the test failed it", "lastProbeTime": moment, "lastTransitionTime": moment},
        ]
        status = {"conditions": conditions, "failed": 1, "startTime": start}
    # the job controller has counted the Pod it created (which no kubelet will ever run) as active
    batch.patch_namespaced_job_status(name, namespace, {"status": {**status, "active": 0, "ready": 0, "terminating": 0}})
