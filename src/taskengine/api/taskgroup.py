"""TaskGroup: tasks that share a switch, a schedule's zone and calendar, and a dependency graph."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from taskengine.api import common
from taskengine.api.common import Model


class TaskGroupSpec(Model):
    """A set of Tasks run as one dependency graph."""

    description: str | None = None
    """What the group is for."""
    active: bool = True
    """false freezes every task of the group. Default true."""
    triggers: list[common.TriggerRef] = Field(default_factory=list, max_length=50)
    """Schedules and EventTriggers that run the whole group as one DAG run."""
    time_zone: str | None = None
    """IANA zone inherited by member tasks' schedules unless they set their own."""
    calendar: str | None = Field(default=None, pattern=common.DNS_SUBDOMAIN, max_length=253)
    """Calendar inherited by member tasks' schedules unless they set their own."""
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    """When a group run is due while one is running. Default Forbid."""
    fail_fast: bool = False
    """true: a failed task cancels the rest of the run."""


class GraphNode(Model):
    """A member task."""

    name: str
    """Name of the Task."""
    phase: str | None = None
    """The Task's phase."""


class GraphEdge(Model):
    """A dependency: `to` runs after `from`."""

    from_: str = Field(alias="from")
    """The task that runs first."""
    to: str
    """The task that depends on it."""


class Graph(Model):
    """The group's flow graph."""

    nodes: list[GraphNode] = Field(default_factory=list)
    """Member tasks."""
    edges: list[GraphEdge] = Field(default_factory=list)
    """Dependencies between them."""


class GroupRun(Model):
    """One run of the whole group."""

    run: str | None = None
    """Its name: the value of the label taskengine.io/group-run on its TaskLogs."""
    phase: Literal["Running", "Succeeded", "Failed", "Skipped"] | None = None
    """Running; Failed when a member failed or was terminated; Skipped when the run did not start."""
    start_time: str | None = None
    """When it started."""
    completion_time: str | None = None
    """When its last member finished."""
    message: str | None = None
    """What happened, e.g. which member failed."""
    tasks: dict[str, str] = Field(default_factory=dict)
    """Each member task's phase in this run."""


class TaskGroupStatus(common.StatusBase):
    """What the operator observed."""

    phase: Literal["Idle", "Running", "Paused", "Invalid"] | None = None
    """Idle, Running, Paused (active: false) or Invalid."""
    last_run: GroupRun | None = None
    """The most recent group run."""
    last_handled_run_request: str | None = None
    """The last taskengine.io/run-requested-at value acted on."""
    graph: Graph | None = None
    """Member tasks and their dependencies, for the flow graph."""


class TaskGroup(Model):
    """Tasks that share an Active switch, a time zone and calendar, and run as a dependency graph."""

    spec: TaskGroupSpec
    status: TaskGroupStatus | None = None
