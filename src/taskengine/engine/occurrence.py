"""Occurrences: the causes of runs, and the deterministic TaskLog names derived from them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Any

RUN_REQUESTED = "taskengine.io/run-requested-at"
RUN_PARAMS = "taskengine.io/run-params"
TERMINATE_REQUESTED = "taskengine.io/terminate-requested-at"

logger = logging.getLogger("taskengine.engine")


def run_request(body: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """A new run request on a Task or TaskGroup: the `run-requested-at` value and the run's params.

    None when there is none, the object is being deleted, or the value was handled before
    (`status.lastHandledRunRequest`, kept even if the run's TaskLogs have been pruned since).
    """
    metadata = body["metadata"]
    annotations = metadata.get("annotations") or {}
    requested = annotations.get(RUN_REQUESTED)
    if not requested or metadata.get("deletionTimestamp"):
        return None
    if (body.get("status") or {}).get("lastHandledRunRequest") == requested:
        return None
    try:
        params = json.loads(annotations.get(RUN_PARAMS) or "{}")
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        params = {}
        logger.warning("%s/%s: ignoring annotation %s: %s", metadata["namespace"], metadata["name"], RUN_PARAMS, error)
    return requested, {str(k): str(v) for k, v in params.items()}


@dataclasses.dataclass(frozen=True)
class Occurrence:
    """Something that should run a task once: a run request, a schedule instant, an event."""

    namespace: str
    task: str
    task_uid: str
    trigger_type: str  # Schedule | Event | Manual | Api | Webhook | Dependency
    cause: str  # unique per occurrence of this task: the run-request value, the instant, uid+rv+event
    trigger_name: str | None = None
    scheduled_time: str | None = None
    event: dict[str, Any] | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    payload: Any = None
    missed: int = 0  # earlier occurrences of the same trigger missed during downtime
    skip: tuple[str, str] | None = None  # (reason, message): record as Skipped instead of running
    obj: dict[str, Any] | None = dataclasses.field(default=None, compare=False)  # the event's object, for ${NAME}, ${object.*}
    group_run: str | None = None  # the group run this occurrence is part of
    time_zone: str | None = None  # ${DATE} is rendered in it: the schedule's zone, or the group's

    @property
    def tasklog_name(self) -> str:
        return tasklog_name(self.task, self.task_uid, self.trigger_type, self.cause)


def tasklog_name(task: str, task_uid: str, trigger_type: str, cause: str) -> str:
    """The same cause of the same Task always gives the same name: creating it is the commit point.

    The Task's uid is part of the hash, so a Task deleted and created again under the same name
    runs its occurrences afresh.
    """
    digest = hashlib.sha256(f"{task_uid}\n{trigger_type}\n{cause}".encode()).hexdigest()[:10]
    return f"{task[:200].rstrip('-.')}-{trigger_type[0].lower()}{digest}"
