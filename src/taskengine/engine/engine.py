"""The engine: an occurrence becomes a TaskLog, the TaskLog a finished run.

Creating the TaskLog, whose name derives from the cause, is the commit point: a second
replica, a restarted operator or a redelivered event that tries the same occurrence gets a
conflict and does nothing. Everything needed to resume after a crash is in the API server;
what is in memory (the runs in progress) is only what this process is doing right now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

import pydantic
from kubernetes_asyncio import client

from taskengine.actions import base, registry
from taskengine.actions import email as email_action
from taskengine.actions import webhook as webhook_action
from taskengine.api import common
from taskengine.api import task as task_api
from taskengine.engine import records as records_
from taskengine import metrics, timestamps, variables
from taskengine.engine import targets
from taskengine.engine.occurrence import TERMINATE_REQUESTED, Occurrence, run_request
from taskengine.kube import client as client_
from taskengine.kube import discovery as discovery_
from taskengine.kube import objects as objects_
from taskengine.kube import retry

logger = logging.getLogger("taskengine.engine")
OUTPUT_LIMIT = 1000
DELIVERIES_LIMIT = 50


@dataclasses.dataclass
class Outcome:
    phase: str
    reason: str
    message: str
    attempts: int = 0
    targets: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    output: str = ""


class Engine:
    def __init__(
        self,
        *,
        clients: client_.Clients,
        discovery: discovery_.Discovery,
        on_task_changed: Callable[[str, str], None] = lambda namespace, name: None,
    ) -> None:
        self._clients = clients
        self._discovery = discovery
        self._records = records_.Records(clients.operator)
        self._tasks = client.CustomObjectsApi(clients.operator)
        self._http = webhook_action.HttpClients()
        self._on_task_changed = on_task_changed
        self._active: dict[tuple[str, str], dict[str, asyncio.Task]] = {}
        self._stopping: dict[str, tuple[str, str]] = {}  # run -> (phase, reason) it is being stopped for
        self._known: set[tuple[str, str]] = set()  # TaskLogs seen: no need to try creating them again
        self._logs_of: dict[tuple[str, str], set[str]] = {}  # (namespace, task) -> its TaskLogs seen, to skip needless pruning

    # -- what the operator feeds in --------------------------------------------------------

    def is_running(self, namespace: str, task: str) -> bool:
        return bool(self._active.get((namespace, task)))

    async def observe_task(self, body: dict[str, Any]) -> None:
        """A Task changed: a new `run-requested-at` value is a run request."""
        request = run_request(body)
        if request is None:
            return
        requested, params = request
        metadata = body["metadata"]
        occurrence = Occurrence(
            namespace=metadata["namespace"], task=metadata["name"], task_uid=metadata["uid"],
            trigger_type="Manual", trigger_name=requested, cause=requested, params=params,
        )
        await self.submit(occurrence)
        await self._records.set_task_status(occurrence.namespace, occurrence.task, {"lastHandledRunRequest": requested})

    def observe_tasklog(self, event_type: str | None, body: dict[str, Any]) -> None:
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        task = (metadata["namespace"], body.get("spec", {}).get("task", ""))
        if event_type == "DELETED":
            self._known.discard(key)
            self._logs_of.get(task, set()).discard(metadata["name"])
            return
        self._known.add(key)
        self._logs_of.setdefault(task, set()).add(metadata["name"])
        if (metadata.get("annotations") or {}).get(TERMINATE_REQUESTED):
            self.stop(metadata["namespace"], body.get("spec", {}).get("task", ""), metadata["name"], "Terminated", "TerminateRequested")

    # -- occurrences -> runs -----------------------------------------------------------------

    async def submit(self, occurrence: Occurrence) -> str | None:
        """Records the occurrence as a TaskLog and starts the run; None if it was already recorded."""
        name = occurrence.tasklog_name
        if (occurrence.namespace, name) in self._known:
            return None
        try:
            task_body = await self._tasks.get_namespaced_custom_object(
                common.GROUP, common.VERSION, occurrence.namespace, "tasks", occurrence.task
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        spec_or_error = _parse(task_body)
        spec = spec_or_error if isinstance(spec_or_error, task_api.TaskSpec) else None
        params = {**(spec.params if spec else {}), **occurrence.params}
        created = await self._records.create_tasklog(occurrence, group=spec.group if spec else None, params=params)
        self._known.add((occurrence.namespace, name))
        self._logs_of.setdefault((occurrence.namespace, occurrence.task), set()).add(name)
        if created is None:
            return None
        run = asyncio.create_task(self._measured(occurrence, created, task_body, params), name=f"run {name}")
        self._active.setdefault((occurrence.namespace, occurrence.task), {})[name] = run
        run.add_done_callback(lambda _: self._forget(occurrence.namespace, occurrence.task, name))
        return name

    def recorded(self, namespace: str, tasklog: str) -> bool:
        """Has this TaskLog been created (seen by this process)? Then its occurrence has run, or runs."""
        return (namespace, tasklog) in self._known

    def outcome_of(self, namespace: str, task: str, run: str) -> asyncio.Future[str]:
        """The final phase of a run this process just started; cancelling the future leaves the run alone.

        Ask right after `submit` returned its name, before anything else is awaited: a finished
        run is forgotten.
        """
        running = self._active.get((namespace, task), {}).get(run)
        if running is None:
            raise LookupError(f"run {namespace}/{run} is not running here")
        return asyncio.shield(running)

    def _forget(self, namespace: str, task: str, run: str) -> None:
        runs = self._active.get((namespace, task), {})
        runs.pop(run, None)
        if not runs:
            self._active.pop((namespace, task), None)
        self._on_task_changed(namespace, task)

    def stop(self, namespace: str, task: str, run: str, phase: str, reason: str) -> bool:
        """Stops a run in progress here (Terminated by request or by Replace)."""
        running = self._active.get((namespace, task), {}).get(run)
        if running is None or running.done():
            return False
        self._stopping[run] = (phase, reason)
        running.cancel()
        return True

    async def recover(self, namespaces: list[str]) -> None:
        """After a restart: TaskLogs left unfinished by a dead operator are finished as Failed."""
        unfinished = await retry.transient(lambda: self._records.unfinished(namespaces), what="listing unfinished TaskLogs")
        for item in unfinished:
            metadata, status = item["metadata"], item.get("status") or {}
            was = status.get("phase") or "Triggered"
            finished = timestamps.now()
            final = {
                "phase": "Failed",
                "reason": "OperatorRestarted",
                "message": f"the operator stopped while this run was {was}; the run was not finished",
                "completionTime": timestamps.rfc3339(finished, ms=True),
            }
            if status.get("startTime"):
                started = timestamps.parse(status["startTime"])
                final["durationSeconds"] = round((finished - started).total_seconds(), 3)
            await self._records.set_status(metadata["namespace"], metadata["name"], final)
            task = item.get("spec", {}).get("task")
            if task:
                await self._records.set_last_run(metadata["namespace"], task, {
                    "taskLog": metadata["name"], "phase": "Failed",
                    "startTime": status.get("startTime"), "completionTime": final["completionTime"],
                })
                self._on_task_changed(metadata["namespace"], task)
            logger.info("TaskLog %s/%s was %s when the operator stopped: marked Failed", metadata["namespace"], metadata["name"], was)

    async def close(self) -> None:
        runs = {name: run for by_task in self._active.values() for name, run in by_task.items()}
        for name, run in runs.items():
            self._stopping[name] = ("Failed", "OperatorStopped")
            run.cancel()
        await asyncio.gather(*runs.values(), return_exceptions=True)
        await self._http.close()

    # -- one run -----------------------------------------------------------------------------

    async def _measured(self, occurrence: Occurrence, tasklog: dict[str, Any], task_body: dict[str, Any], params: dict[str, str]) -> str:
        """A run, counted in the metrics."""
        if occurrence.trigger_type == "Schedule" and occurrence.scheduled_time and occurrence.skip is None:
            metrics.SCHEDULE_LAG.observe(max(0.0, (timestamps.now() - timestamps.parse(occurrence.scheduled_time)).total_seconds()))
        metrics.RUNS_IN_PROGRESS.inc()
        clock = time.monotonic()
        phase = "Failed"
        try:
            phase = await self._run(occurrence, tasklog, task_body, params)
            return phase
        finally:
            metrics.RUNS_IN_PROGRESS.dec()
            metrics.RUNS.labels(occurrence.namespace, occurrence.task, occurrence.trigger_type, phase).inc()
            if phase != "Skipped":
                metrics.RUN_DURATION.labels(occurrence.namespace, occurrence.task).observe(time.monotonic() - clock)

    async def _run(self, occurrence: Occurrence, tasklog: dict[str, Any], task_body: dict[str, Any], params: dict[str, str]) -> str:
        """Runs to the end; returns the final phase."""
        namespace, name = occurrence.namespace, occurrence.tasklog_name
        started, clock = timestamps.now(), time.monotonic()
        spec = _parse(task_body)
        try:  # stopped before its action began, the run still ends with a phase
            skip = await self._skip_reason(occurrence, spec, name)
            if skip:
                return await asyncio.shield(self._finish(task_body, name, started, clock, Outcome("Skipped", *skip), spec=None))
            if isinstance(spec, str):
                return await asyncio.shield(self._finish(task_body, name, started, clock, Outcome("Failed", "InvalidSpec", spec), spec=None))
            await self._records.set_status(namespace, name, {"phase": "Started", "startTime": timestamps.rfc3339(started, ms=True), "attempts": 0})
            await self._records.set_last_run(namespace, occurrence.task, {"taskLog": name, "phase": "Running", "startTime": timestamps.rfc3339(started, ms=True)})
            self._on_task_changed(namespace, occurrence.task)
            await self._records.event(task_body, reason="Started", message=f"run {name} started ({occurrence.trigger_type})")
        except asyncio.CancelledError:
            phase, reason = self._stopping.pop(name, ("Failed", "OperatorStopped"))
            return await asyncio.shield(self._finish(task_body, name, started, clock, Outcome(phase, reason, _stop_message(reason)), spec=None))

        ctx = base.RunContext(
            task=spec, task_body=task_body, namespace=namespace, run_name=name, run_uid=tasklog["metadata"]["uid"],
            variables=_variables(occurrence, started, name, params),
            operator_api=self._clients.operator,
            objects=objects_.Objects(self._clients.as_service_account(namespace, spec.service_account_name)),
            discovery=self._discovery, redact=base.Redactor(), http=self._http,
        )
        await self._notify(ctx, spec.notify.on_start, "Started")
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                outcome = await self._attempts(ctx)
        except TimeoutError:
            outcome = Outcome("Failed", "Timeout", f"the run exceeded timeoutSeconds ({spec.timeout_seconds}s) and was stopped", ctx.attempt)
        except Exception as error:  # a bug of ours: the TaskLog must still end, not stay Running
            logger.exception("run %s/%s failed unexpectedly", namespace, name)
            outcome = Outcome("Failed", "InternalError", ctx.redact(f"{type(error).__name__}: {error}")[:500], ctx.attempt)
        except asyncio.CancelledError:
            phase, reason = self._stopping.pop(name, ("Failed", "OperatorStopped"))
            outcome = Outcome(phase, reason, _stop_message(reason), ctx.attempt)
            return await asyncio.shield(self._finish(task_body, name, started, clock, outcome, spec=spec, ctx=ctx))
        return await self._finish(task_body, name, started, clock, outcome, spec=spec, ctx=ctx)

    async def _skip_reason(self, occurrence: Occurrence, spec: task_api.TaskSpec | str, name: str) -> tuple[str, str] | None:
        if occurrence.skip:
            return occurrence.skip
        if isinstance(spec, str):
            return None
        if not spec.enabled:
            return "TaskPaused", "the task is paused (spec.enabled: false)"
        others = [run for run in self._active.get((occurrence.namespace, occurrence.task), {}) if run != name]
        if others and spec.concurrency_policy == "Forbid":
            return "ConcurrencyForbid", f"run {others[0]} is still running (concurrencyPolicy: Forbid)"
        if others and spec.concurrency_policy == "Replace":
            waiting = []
            for other in others:
                if self.stop(occurrence.namespace, occurrence.task, other, "Terminated", "Replaced"):
                    waiting.append(self._active[(occurrence.namespace, occurrence.task)][other])
            await asyncio.gather(*waiting, return_exceptions=True)
        return None

    async def _attempts(self, ctx: base.RunContext) -> Outcome:
        spec = ctx.task
        action = registry.ACTIONS[spec.action.kind]
        results: dict[str, dict[str, Any]] = {}
        outputs: list[str] = []
        pending: list[dict[str, Any] | None] | None = None
        for attempt in range(1, spec.retries.limit + 2):
            ctx.attempt = attempt
            if attempt > 1:
                delay = min(spec.retries.backoff_seconds * 2 ** (attempt - 2), spec.retries.max_backoff_seconds)
                await asyncio.sleep(delay)
            await self._records.set_status(ctx.namespace, ctx.run_name, {"phase": "Running", "attempts": attempt})
            if pending is None:
                try:
                    pending = await targets.resolve(ctx)
                except base.ActionFailed as error:
                    outcome = Outcome("Failed", "TargetsUnavailable", ctx.redact(str(error)), attempt)
                    continue
            failed: list[dict[str, Any] | None] = []
            for target in pending:
                key, entry = targets.describe(target, ctx)
                try:
                    result = await action.perform(ctx, target)
                except base.ActionFailed as error:
                    entry.update(result="Failed", message=ctx.redact(str(error))[:500])
                    failed.append(target)
                except variables.UnknownVariable as error:
                    entry.update(result="Failed", message=str(error))
                    failed.append(target)
                except (client.ApiException, OSError, ValueError, KeyError, TypeError, pydantic.ValidationError) as error:
                    logger.exception("run %s/%s: %s failed unexpectedly", ctx.namespace, ctx.run_name, spec.action.kind)
                    entry.update(result="Failed", message=ctx.redact(f"{type(error).__name__}: {error}")[:500])
                    failed.append(target)
                else:
                    entry.update(result="Succeeded", message=ctx.redact(result.message)[:500])
                    if result.output:
                        outputs.append(ctx.redact(result.output))
                results[key] = entry
            pending = failed
            done = sum(1 for entry in results.values() if entry["result"] == "Succeeded")
            if not failed:
                if "-" in results:
                    message = results["-"]["message"]
                elif results:
                    message = f"{spec.action.kind}: succeeded on {done} target(s)"
                else:
                    message = f"{spec.action.kind}: no object matched the target"
                return Outcome("Succeeded", "Succeeded", message, attempt, _target_list(results), "\n".join(outputs))
            first = next(entry for entry in results.values() if entry["result"] == "Failed")
            outcome = Outcome(
                "Failed", "ActionFailed",
                f"{spec.action.kind}: {len(failed)} of {len(results)} failed after {attempt} attempt(s): {first['message']}",
                attempt, _target_list(results), "\n".join(outputs),
            )
        return outcome

    async def _finish(self, task_body: dict[str, Any], name: str, started: Any, clock: float, outcome: Outcome, *, spec: task_api.TaskSpec | None, ctx: base.RunContext | None = None) -> str:
        metadata = task_body["metadata"]
        namespace, task = metadata["namespace"], metadata["name"]
        finished = timestamps.now()
        status: dict[str, Any] = {
            "phase": outcome.phase, "reason": outcome.reason, "message": outcome.message,
            "startTime": timestamps.rfc3339(started, ms=True), "completionTime": timestamps.rfc3339(finished, ms=True),
            "durationSeconds": round(time.monotonic() - clock, 3), "attempts": outcome.attempts,
            "targets": outcome.targets, "output": outcome.output[:OUTPUT_LIMIT],
        }
        if ctx is not None:
            status["deliveries"] = [_delivery(d) for d in ctx.deliveries[-DELIVERIES_LIMIT:]]
        try:
            await self._records.set_status(namespace, name, status)
            await self._records.set_last_run(namespace, task, {
                "taskLog": name, "phase": outcome.phase, "startTime": status["startTime"], "completionTime": status["completionTime"],
            })
            failed = outcome.phase in ("Failed", "Terminated")
            await self._records.event(task_body, reason=outcome.phase, message=f"run {name}: {outcome.message}", warning=failed)
            if spec is not None and ctx is not None:
                ctx.variables = dataclasses.replace(ctx.variables, phase=outcome.phase)
                await self._notify(ctx, spec.notify.on_failure if failed else spec.notify.on_success, outcome.phase)
            history = spec.history if spec is not None else task_api.History()
            if len(self._logs_of.get((namespace, task), ())) > min(history.successful_limit, history.failed_limit):
                # only then can a limit be exceeded: a task's first runs cost no listing
                await self._records.prune(namespace, task, successful=history.successful_limit, failed=history.failed_limit)
            if spec is not None and spec.delete_after_run and outcome.phase != "Skipped":
                await self._tasks.delete_namespaced_custom_object(common.GROUP, common.VERSION, namespace, "tasks", task)
        except client.ApiException as error:
            if error.status != 404:  # the Task or TaskLog was deleted meanwhile
                logger.error("run %s/%s: recording the outcome failed: %s", namespace, name, objects_.api_error_message(error))
        return outcome.phase

    async def _notify(self, ctx: base.RunContext, notifications: list[task_api.Notification], phase: str) -> None:
        scope = dataclasses.replace(ctx.variables, phase=phase)
        for index, notification in enumerate(notifications):
            try:
                if notification.webhook_ref:
                    await webhook_action.deliver(ctx, notification.webhook_ref, notification.payload, scope, f"{ctx.run_name}.notify-{phase.lower()}-{index}")
                else:
                    await email_action.send(ctx, notification.email, scope)
            except (base.ActionFailed, variables.UnknownVariable) as error:
                message = ctx.redact(str(error))
                logger.warning("run %s/%s: notification %s failed: %s", ctx.namespace, ctx.run_name, phase, message)
                await self._records.event(ctx.task_body, reason="NotificationFailed", message=f"run {ctx.run_name}: {message}", warning=True)


def _variables(occurrence: Occurrence, now: datetime.datetime, run: str, params: dict[str, str]) -> variables.Variables:
    if occurrence.time_zone:
        now = now.astimezone(zoneinfo.ZoneInfo(occurrence.time_zone))
    scope = variables.Variables(
        now=now, task=occurrence.task, run=run, trigger=occurrence.trigger_name or occurrence.trigger_type,
        params=params, payload=occurrence.payload, event=(occurrence.event or {}).get("type"),
    )
    return scope.with_target(occurrence.obj) if occurrence.obj else scope


def _parse(task_body: dict[str, Any]) -> task_api.TaskSpec | str:
    try:
        return task_api.TaskSpec.model_validate(task_body.get("spec") or {})
    except pydantic.ValidationError as error:
        return "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())


def _target_list(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in results.values() if entry.get("name")]


def _delivery(delivery: base.Delivery) -> dict[str, Any]:
    record = {"time": delivery.time, "idempotencyId": delivery.idempotency_id}
    for field, key in (("status_code", "statusCode"), ("latency_ms", "latencyMs"), ("error", "error")):
        value = getattr(delivery, field)
        if value is not None:
            record[key] = value
    return record


def _stop_message(reason: str) -> str:
    return {
        "TerminateRequested": "terminated on request (annotation taskengine.io/terminate-requested-at)",
        "Replaced": "terminated: a new run replaced it (concurrencyPolicy: Replace)",
        "FailFast": "terminated: another task of the group run failed (failFast: true)",
        "OperatorStopped": "the operator stopped during the run",
    }.get(reason, reason)
