"""The interface every action implements, and what a run gives it to work with."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from kubernetes_asyncio import client

from taskengine.api import task as task_api
from taskengine import variables as variables_
from taskengine.kube import discovery as discovery_
from taskengine.kube import objects as objects_


class ActionFailed(Exception):
    """The action did not do its job on this target; the message says why, for the TaskLog."""


@dataclasses.dataclass
class Redactor:
    """Removes every secret value the run has read from text bound for TaskLogs, events, logs."""

    secrets: set[str] = dataclasses.field(default_factory=set)

    def add(self, value: str | bytes | None) -> None:
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if value and len(value) >= 4:
            self.secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "[REDACTED]")
        return text


@dataclasses.dataclass
class Delivery:
    """One webhook HTTP attempt, as the TaskLog lists it."""

    time: str
    idempotency_id: str
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None


@dataclasses.dataclass
class RunContext:
    """What one run of a Task gives its action."""

    task: task_api.TaskSpec
    task_body: dict[str, Any]  # the Task object as read at the start of the run
    namespace: str
    run_name: str  # the TaskLog
    run_uid: str
    variables: variables_.Variables
    operator_api: client.ApiClient  # the operator's own rights: Secrets, Webhooks, TaskLogs
    objects: objects_.Objects  # as the Task's ServiceAccount: everything the action touches
    discovery: discovery_.Discovery
    redact: Redactor
    http: Any  # taskengine.actions.webhook.HttpClients: shared connection pools
    attempt: int = 1
    deliveries: list[Delivery] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Result:
    """The outcome on one target (or on the run, for actions without a target)."""

    message: str
    output: str | None = None


class Action(Protocol):
    """Performs one action kind on one target (None for actions that need no target).

    Raise ActionFailed with a message for a failure the run should report (and may retry);
    the engine turns any other exception into a failure too, but logs it as a bug.
    """

    async def perform(self, ctx: RunContext, target: dict[str, Any] | None) -> Result: ...
