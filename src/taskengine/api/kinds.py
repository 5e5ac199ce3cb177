"""The seven kinds: their names on the API server and the columns `kubectl get` shows."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel

from taskengine.api import calendar, eventtrigger, schedule, task, tasklog, taskgroup, webhook

READY = '.status.conditions[?(@.type=="Ready")].status'
REASON = '.status.conditions[?(@.type=="Ready")].reason'
AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


@dataclasses.dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    kind: str
    plural: str
    short_name: str
    columns: tuple[dict[str, str], ...]
    conditions: bool = True

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _column(name: str, json_path: str, type_: str = "string", priority: int = 0) -> dict[str, str]:
    column = {"name": name, "type": type_, "jsonPath": json_path}
    if priority:
        column["priority"] = priority
    return column


READY_COLUMNS = (_column("Ready", READY), _column("Reason", REASON, priority=1))

TASK = Kind(
    task.Task, "Task", "tasks", "tk",
    (
        _column("Phase", ".status.phase"),
        _column("Last", ".status.lastRun.phase"),
        _column("Last Run", ".status.lastRun.startTime", "date"),
        _column("Next Run", ".status.nextRunTime"),
        *READY_COLUMNS,
        AGE,
    ),
)
TASK_GROUP = Kind(
    taskgroup.TaskGroup, "TaskGroup", "taskgroups", "tg",
    (
        _column("Active", ".spec.active", "boolean"),
        _column("Phase", ".status.phase"),
        _column("Last", ".status.lastRun.phase"),
        *READY_COLUMNS,
        AGE,
    ),
)
SCHEDULE = Kind(
    schedule.Schedule, "Schedule", "schedules", "sched",
    (
        _column("Cron", ".spec.cron"),
        _column("Every", ".spec.every.unit", priority=1),
        _column("At", ".spec.at", priority=1),
        _column("Zone", ".spec.timeZone"),
        _column("Next", ".status.nextFireTime"),
        _column("Suspend", ".spec.suspend", "boolean", priority=1),
        *READY_COLUMNS,
        AGE,
    ),
)
CALENDAR = Kind(
    calendar.Calendar, "Calendar", "calendars", "cal",
    (
        _column("Country", ".spec.holidays.country"),
        _column("Subdivision", ".spec.holidays.subdivision"),
        _column("Next", ".status.upcoming[0]"),
        *READY_COLUMNS,
        AGE,
    ),
)
EVENT_TRIGGER = Kind(
    eventtrigger.EventTrigger, "EventTrigger", "eventtriggers", "evt",
    (
        _column("Kind", ".spec.resource.kind"),
        _column("Events", ".spec.events", priority=1),
        _column("Count", ".status.triggerCount", "integer"),
        _column("Last", ".status.lastTriggered", "date"),
        *READY_COLUMNS,
        AGE,
    ),
)
WEBHOOK = Kind(
    webhook.Webhook, "Webhook", "webhooks", "wh",
    (
        _column("URL", ".spec.url"),
        _column("Auth", ".spec.auth.type", priority=1),
        _column("Status", ".status.lastDelivery.statusCode", "integer"),
        _column("Last", ".status.lastDelivery.time", "date"),
        *READY_COLUMNS,
        AGE,
    ),
)
TASK_LOG = Kind(
    tasklog.TaskLog, "TaskLog", "tasklogs", "tl",
    (
        _column("Task", ".spec.task"),
        _column("Trigger", ".spec.trigger.type"),
        _column("Phase", ".status.phase"),
        _column("Started", ".status.startTime", "date"),
        _column("Duration", ".status.durationSeconds", "number"),
        _column("Message", ".status.message", priority=1),
        AGE,
    ),
    conditions=False,
)

ALL = (TASK, TASK_GROUP, SCHEDULE, CALENDAR, EVENT_TRIGGER, WEBHOOK, TASK_LOG)
BY_KIND = {kind.kind: kind for kind in ALL}
