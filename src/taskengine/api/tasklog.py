"""TaskLog: the record of one execution, written by the operator."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from taskengine.api import common
from taskengine.api.common import Model

TriggerType = Literal["Schedule", "Event", "Manual", "Api", "Webhook", "Dependency"]
RunPhase = Literal["Triggered", "Started", "Running", "Succeeded", "Failed", "Terminated", "Skipped"]
FINISHED_PHASES = ("Succeeded", "Failed", "Terminated", "Skipped")


class TriggeringEvent(Model):
    """The change that fired an EventTrigger."""

    type: str
    """Created, Updated or Deleted."""
    object: common.ObjectReference | None = None
    """The object that changed."""


class TriggerInfo(Model):
    """What started the run."""

    type: TriggerType
    """Schedule, Event, Manual, Api, Webhook or Dependency."""
    name: str | None = None
    """Name of the Schedule, EventTrigger or requester."""
    scheduled_time: str | None = None
    """The instant a schedule fired for."""
    event: TriggeringEvent | None = None
    """The event, for Event triggers."""
    missed: int | None = None
    """Earlier occurrences of this trigger that were missed while the operator was down (not run)."""


class TaskLogSpec(Model):
    """The cause of the run."""

    task: str
    """Name of the Task."""
    group: str | None = None
    """Name of the TaskGroup, for group runs."""
    trigger: TriggerInfo
    """What started the run."""
    params: dict[str, str] = Field(default_factory=dict)
    """Template parameters of this run."""


class TargetResult(Model):
    """The outcome on one target."""

    api_version: str
    """apiVersion of the target."""
    kind: str
    """Kind of the target."""
    namespace: str | None = None
    """Namespace of the target."""
    name: str
    """Name of the target."""
    result: Literal["Succeeded", "Failed", "Skipped"]
    """Succeeded, Failed or Skipped."""
    message: str = ""
    """What happened."""


class DeliveryAttempt(Model):
    """One HTTP attempt of a webhook delivery."""

    time: str
    """When the attempt started."""
    idempotency_id: str
    """The id the receiver sees (webhook-id header); the same for every retry of one delivery."""
    status_code: int | None = None
    """HTTP status, if any."""
    latency_ms: int | None = None
    """Time to the response."""
    error: str | None = None
    """Connection error or timeout."""


class TaskLogStatus(Model):
    """How the run went."""

    phase: RunPhase | None = None
    """Triggered, Started, Running, Succeeded, Failed, Terminated or Skipped."""
    reason: str | None = None
    """One CamelCase word, e.g. Timeout, OperatorRestarted, MissedDeadline."""
    message: str | None = None
    """What happened, for people."""
    start_time: str | None = None
    """When the run started."""
    completion_time: str | None = None
    """When it ended."""
    duration_seconds: float | None = None
    """Run time in seconds."""
    attempts: int | None = None
    """Attempts made."""
    targets: list[TargetResult] = Field(default_factory=list)
    """One result per target object."""
    deliveries: list[DeliveryAttempt] = Field(default_factory=list)
    """Every webhook attempt."""
    output: str | None = None
    """Short output: HTTP status and body excerpt, Job result; secrets redacted."""


class TaskLog(Model):
    """One execution of a Task: its cause, its targets, its outcome."""

    spec: TaskLogSpec
    status: TaskLogStatus | None = None
