"""Group runs: every member Task of a TaskGroup once, each after its dependsOn, as its runIf says.

A trigger of the group (a Schedule, an EventTrigger, an incoming webhook, a run request) makes
one group run. Members without dependencies start at once; a member starts when all of its
dependencies have finished, or is recorded as Skipped when its `runIf` does not hold. Every
member run is an ordinary run with a TaskLog labelled `taskengine.io/group-run`, whose name
derives from the group run's cause: creating the first member's TaskLog is the group run's
commit point, so another replica or a restarted operator never runs it twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from taskengine import dag, metrics, timestamps
from taskengine.api import taskgroup as taskgroup_api
from taskengine.engine import engine as engine_
from taskengine.engine import records as records_
from taskengine.engine.occurrence import Occurrence, run_request
from taskengine.kube import retry

logger = logging.getLogger("taskengine.groups")
UNSUCCESSFUL = ("Failed", "Terminated")


@dataclasses.dataclass(frozen=True)
class Member:
    """A valid member Task of a group, as the group run needs it."""

    name: str
    uid: str
    depends_on: tuple[str, ...] = ()
    run_if: str = "Succeeded"


@dataclasses.dataclass(frozen=True)
class Group:
    """A valid TaskGroup and its valid members, as they are when a group run starts."""

    name: str
    uid: str
    spec: taskgroup_api.TaskGroupSpec
    members: dict[str, Member]


@dataclasses.dataclass(frozen=True)
class GroupOccurrence:
    """Something that should run a whole group once: the group's counterpart of an Occurrence."""

    namespace: str
    group: str
    group_uid: str
    trigger_type: str  # Schedule | Event | Manual | Webhook
    cause: str
    trigger_name: str | None = None
    scheduled_time: str | None = None
    event: dict[str, Any] | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    payload: Any = None
    missed: int = 0
    skip: tuple[str, str] | None = None
    obj: dict[str, Any] | None = dataclasses.field(default=None, compare=False)
    time_zone: str | None = None

    @property
    def run_name(self) -> str:
        digest = hashlib.sha256(f"{self.group_uid}\n{self.trigger_type}\n{self.cause}".encode()).hexdigest()[:10]
        return f"{self.group[:50].rstrip('-.')}-{digest}"

    def member(self, task: Member, *, dependent: bool, skip: tuple[str, str] | None) -> Occurrence:
        """The occurrence of one member: first ones carry the group's trigger, later ones `Dependency`."""
        return Occurrence(
            namespace=self.namespace, task=task.name, task_uid=task.uid,
            trigger_type="Dependency" if dependent else self.trigger_type,
            trigger_name=self.group if dependent else self.trigger_name,
            cause=f"group/{self.group_uid}/{self.trigger_type}/{self.cause}",
            scheduled_time=self.scheduled_time, event=self.event, params=self.params, payload=self.payload,
            missed=self.missed, skip=skip, obj=self.obj, group_run=self.run_name, time_zone=self.time_zone,
        )


def unmet(run_if: str, dependencies: dict[str, str]) -> tuple[str, str] | None:
    """Why a member must not run after its dependencies ended in these phases; None: it runs."""
    listed = ", ".join(f"{name} {phase}" for name, phase in sorted(dependencies.items()))
    if run_if == "Succeeded" and any(phase != "Succeeded" for phase in dependencies.values()):
        return "DependencyNotSucceeded", f"runIf: Succeeded, but not every dependency succeeded ({listed})"
    if run_if == "Failed" and dependencies and not any(phase in UNSUCCESSFUL for phase in dependencies.values()):
        return "NoDependencyFailed", f"runIf: Failed, and no dependency failed ({listed})"
    return None


def outcome(results: dict[str, str]) -> tuple[str, str]:
    """The group run's phase and message from its members' phases."""
    failed = sorted(name for name, phase in results.items() if phase in UNSUCCESSFUL)
    counts: dict[str, int] = {}
    for phase in results.values():
        counts[phase] = counts.get(phase, 0) + 1
    summary = ", ".join(f"{count} {phase}" for phase, count in sorted(counts.items()))
    if failed:
        return "Failed", f"{summary}; failed: {', '.join(failed)}"
    if results and all(phase == "Skipped" for phase in results.values()):
        return "Skipped", summary
    return "Succeeded", summary


class GroupRuns:
    def __init__(
        self,
        *,
        lookup: Callable[[str, str], Group | None],
        engine: engine_.Engine,
        records: records_.Records,
        on_group_changed: Callable[[str, str], None] = lambda namespace, name: None,
    ) -> None:
        """`lookup(namespace, name)`: the group as it is now, None when it is missing or invalid."""
        self._lookup = lookup
        self._engine = engine
        self._records = records
        self._on_group_changed = on_group_changed
        self._active: dict[tuple[str, str], dict[str, asyncio.Task]] = {}
        self._members: dict[str, dict[str, str]] = {}  # group run -> {task: its TaskLog}, while running
        self._replaced: set[str] = set()  # group runs being ended by a newer one (concurrencyPolicy: Replace)

    def is_running(self, namespace: str, group: str) -> bool:
        return bool(self._active.get((namespace, group)))

    async def observe_group(self, body: dict[str, Any]) -> None:
        """A TaskGroup changed: a new `run-requested-at` value runs the whole group."""
        request = run_request(body)
        if request is None:
            return
        requested, params = request
        metadata = body["metadata"]
        await self.submit(GroupOccurrence(
            namespace=metadata["namespace"], group=metadata["name"], group_uid=metadata["uid"], trigger_type="Manual",
            trigger_name=requested, cause=requested, params=params,
        ))
        await self._records.set_group_status(metadata["namespace"], metadata["name"], {"lastHandledRunRequest": requested})

    async def submit(self, occurrence: GroupOccurrence) -> str | None:
        """Starts a group run; its name, or None when the group cannot run now (logged)."""
        namespace, group = occurrence.namespace, occurrence.group
        found = self._lookup(namespace, group)
        if found is None:
            return None
        members = found.members
        graph = {name: [d for d in m.depends_on if d in members] for name, m in members.items()}
        cycle = dag.find_cycle(graph)
        if not members or cycle:
            why = "it has no valid member task" if not members else f"its tasks form a cycle ({' -> '.join(cycle)})"
            logger.warning("TaskGroup %s/%s: not run for %s: %s", namespace, group, occurrence.trigger_type, why)
            return None
        running = self._active.get((namespace, group), {})
        order = sorted(members, key=lambda task: (bool(graph[task]), task))
        first = occurrence.member(members[order[0]], dependent=False, skip=None)
        if occurrence.run_name in running or self._engine.recorded(namespace, first.tasklog_name):
            return None  # this very group run is under way or done (a redelivered event, a repeated request)
        skip = occurrence.skip
        if skip is None and running and found.spec.concurrency_policy == "Forbid":
            skip = "ConcurrencyForbid", f"group run {next(iter(running))} is still running (concurrencyPolicy: Forbid)"
        elif skip is None and running and found.spec.concurrency_policy == "Replace":
            for other in list(running):
                self._replaced.add(other)
                for task, tasklog in self._members.get(other, {}).items():
                    self._engine.stop(namespace, task, tasklog, "Terminated", "Replaced")
            await asyncio.gather(*running.values(), return_exceptions=True)
        if occurrence.time_zone is None and found.spec.time_zone:
            occurrence = dataclasses.replace(occurrence, time_zone=found.spec.time_zone)
        name = occurrence.run_name
        run = asyncio.create_task(self._run(occurrence, found, graph, order, skip), name=f"group run {name}")
        self._active.setdefault((namespace, group), {})[name] = run
        run.add_done_callback(lambda _: self._forget(namespace, group, name))
        self._on_group_changed(namespace, group)
        return name

    def _forget(self, namespace: str, group: str, run: str) -> None:
        runs = self._active.get((namespace, group), {})
        runs.pop(run, None)
        self._members.pop(run, None)
        self._replaced.discard(run)
        if not runs:
            self._active.pop((namespace, group), None)
        self._on_group_changed(namespace, group)

    async def _run(
        self, occurrence: GroupOccurrence, found: Group, graph: dict[str, list[str]], order: list[str], skip: tuple[str, str] | None,
    ) -> None:
        """`order`: the members, those without dependencies first."""
        namespace, group, name = occurrence.namespace, occurrence.group, occurrence.run_name
        members = found.members
        first = occurrence.member(members[order[0]], dependent=False, skip=skip)
        if await self._engine.submit(first) is None:
            return  # the commit point: this group run was started before (another replica, or before a restart)
        waiting: dict[str, asyncio.Future] = {order[0]: self._engine.outcome_of(namespace, order[0], first.tasklog_name)}
        started = timestamps.now()
        tasklogs = self._members.setdefault(name, {})
        tasklogs[order[0]] = first.tasklog_name
        if skip is None:  # a skipped group run leaves lastRun to the run it yielded to; its TaskLogs say Skipped
            await self._set_last_run(namespace, group, {
                "run": name, "phase": "Running", "startTime": timestamps.rfc3339(started, ms=True),
                "completionTime": None, "message": None, "tasks": None,
            })
        results: dict[str, str] = {}
        pending = set(order[1:])
        failed_fast = False
        while True:
            for task in sorted(pending):
                if any(dependency not in results for dependency in graph[task]):
                    continue
                pending.discard(task)
                reason = skip
                if reason is None and name in self._replaced:
                    reason = "Replaced", "a newer run of the group replaced this one (concurrencyPolicy: Replace)"
                if reason is None and failed_fast:
                    reason = "FailFast", "another task of the group run failed (failFast: true)"
                if reason is None:
                    reason = unmet(members[task].run_if, {d: results[d] for d in graph[task]})
                waiting[task] = asyncio.create_task(self._start(occurrence, members[task], bool(graph[task]), reason, tasklogs))
            if not waiting:
                break
            done, _ = await asyncio.wait(waiting.values(), return_when=asyncio.FIRST_COMPLETED)
            for task in [task for task, waiter in waiting.items() if waiter in done]:
                results[task] = waiting.pop(task).result()
                if results[task] in UNSUCCESSFUL and found.spec.fail_fast and not failed_fast:
                    failed_fast = True
                    for other in waiting:
                        self._engine.stop(namespace, other, tasklogs.get(other, ""), "Terminated", "FailFast")
        phase, message = outcome(results)
        metrics.GROUP_RUNS.labels(namespace, group, phase).inc()
        if skip is None:
            await self._set_last_run(namespace, group, {
                "run": name, "phase": phase, "startTime": timestamps.rfc3339(started, ms=True),
                "completionTime": timestamps.rfc3339(timestamps.now(), ms=True), "message": message, "tasks": results,
            })
        else:
            message = f"{skip[1]}; {message}"
        await self._records.event({"metadata": {"name": group, "namespace": namespace, "uid": found.uid}}, kind="TaskGroup",
                                  reason=phase, message=f"group run {name}: {message}", warning=phase == "Failed")

    async def _start(
        self, occurrence: GroupOccurrence, task: Member, dependent: bool, skip: tuple[str, str] | None, tasklogs: dict[str, str],
    ) -> str:
        """Runs one member to its end; its final phase."""
        member = occurrence.member(task, dependent=dependent, skip=skip)
        tasklogs[task.name] = member.tasklog_name
        try:
            started = await self._engine.submit(member)
        except Exception as error:  # noqa: BLE001 - one member's failure to start is that member's failure
            logger.error("group run %s: task %s could not start: %s", occurrence.run_name, task.name, error)
            return "Failed"
        if started is None:
            return "Skipped"  # recorded before: the member ran already (a replica overlapped)
        outcome_ = self._engine.outcome_of(occurrence.namespace, task.name, member.tasklog_name)
        if skip is None and occurrence.run_name in self._replaced:  # replaced while this member was being started
            self._engine.stop(occurrence.namespace, task.name, member.tasklog_name, "Terminated", "Replaced")
        return await outcome_

    async def _set_last_run(self, namespace: str, group: str, last_run: dict[str, Any]) -> None:
        try:
            await self._records.set_group_status(namespace, group, {"lastRun": last_run})
        except Exception as error:  # noqa: BLE001 - the runs go on; their TaskLogs are the record
            logger.error("TaskGroup %s/%s: recording the group run failed: %s", namespace, group, error)

    async def recover(self, namespaces: list[str]) -> None:
        """After a restart: a group run left Running by a dead operator is marked Failed (it is not resumed)."""
        served = await retry.transient(lambda: self._records.served("taskgroups", namespaces), what="listing TaskGroups")
        for item in served:
            last = (item.get("status") or {}).get("lastRun") or {}
            if last.get("phase") != "Running":
                continue
            metadata = item["metadata"]
            await self._set_last_run(metadata["namespace"], metadata["name"], {
                **last, "phase": "Failed", "completionTime": timestamps.rfc3339(timestamps.now(), ms=True),
                "message": "the operator stopped during this group run; the tasks that had not started did not run",
            })

