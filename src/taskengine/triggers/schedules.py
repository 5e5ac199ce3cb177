"""Schedules and Calendars at run time: arming timers from the catalog, firing Tasks, status."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable

from taskengine import recurrence, timestamps
from taskengine.engine.groups import GroupOccurrence
from taskengine.engine.occurrence import Occurrence
from taskengine.kube import status as status_
from taskengine.reconcile import catalog as catalog_
from taskengine.reconcile.catalog import Key
from taskengine.triggers import scheduler as scheduler_

logger = logging.getLogger("taskengine.scheduler")
FIRING_CONCURRENCY = 32


class ScheduleTriggers:
    def __init__(
        self,
        *,
        catalog: catalog_.Catalog,
        submit: Callable[[Occurrence], Awaitable[str | None]],
        writer: status_.StatusWriter,
        submit_group: Callable[[GroupOccurrence], Awaitable[str | None]],
        clock: Callable[[], datetime.datetime] = timestamps.now,
    ) -> None:
        self._catalog = catalog
        self._submit = submit
        self._submit_group = submit_group
        self._writer = writer
        self._clock = clock
        self.scheduler = scheduler_.Scheduler(fire=self._fire, on_armed=self._published, clock=clock)

    # -- from the reconciler --

    def evaluated(self, entry: catalog_.Entry, ready: bool) -> None:
        """A Schedule or Calendar was (re)evaluated: (re)arm, or disarm what is not valid."""
        plural = {"Task": "tasks", "Schedule": "schedules", "Calendar": "calendars"}.get(entry.key.kind)
        if plural:
            self._writer.seen(plural, entry.key.namespace, entry.key.name, entry.status)
        if entry.key.kind == "Task":
            if entry.model is not None:
                self._publish_next_run(entry)
            return
        if entry.key.kind == "Calendar":
            if ready:
                self._writer.set("calendars", entry.key.namespace, entry.key.name, {
                    "upcoming": [day.isoformat() for day in recurrence.off_days(recurrence.workdays(entry.model), self._clock().date())],
                })
            return
        if entry.key.kind != "Schedule":
            return
        namespace, name = entry.key.namespace, entry.key.name
        spec = entry.model
        if not ready or spec is None or spec.suspend:
            self.scheduler.disarm(namespace, name)
            self._published((namespace, name), [])
            return
        zone, calendar_name = self._catalog.schedule_settings(entry)  # its own, or its groups'
        workdays = None
        if calendar_name:
            calendar = self._catalog.get(Key("Calendar", namespace, calendar_name))
            workdays = recurrence.workdays(calendar.model) if calendar and calendar.model else None
        created = timestamps.parse(entry.created) if entry.created else self._clock()
        plan = recurrence.Plan.build(spec, created=created, workdays=workdays, zone=zone)
        last = entry.status.get("lastFireTime")
        self.scheduler.arm(namespace, name, plan, last_fired=timestamps.parse(last) if last else None, created=created,
                           deadline_seconds=spec.starting_deadline_seconds)

    def removed(self, key: Key) -> None:
        if key.kind == "Schedule":
            self.scheduler.disarm(key.namespace, key.name)
            self._writer.forget("schedules", key.namespace, key.name)

    # -- from the scheduler --

    def _published(self, key: tuple[str, str], upcoming: list[datetime.datetime]) -> None:
        namespace, name = key
        armed = self.scheduler.is_armed(namespace, name)
        self._writer.set("schedules", namespace, name, {
            "nextFireTime": timestamps.rfc3339(upcoming[0]) if upcoming else None,
            "upcoming": [timestamps.rfc3339(instant) for instant in upcoming],
            "done": armed and not upcoming,
        })
        for task in self._tasks_of(namespace, name):
            self._publish_next_run(task)

    def _publish_next_run(self, task: catalog_.Entry) -> None:
        times = [
            self.scheduler.next_fire_time(task.key.namespace, trigger.schedule)
            for trigger in task.model.triggers if trigger.schedule
        ]
        times = [t for t in times if t is not None]
        self._writer.set("tasks", task.key.namespace, task.key.name, {"nextRunTime": timestamps.rfc3339(min(times)) if times else None})

    def _tasks_of(self, namespace: str, schedule: str) -> list[catalog_.Entry]:
        keys = self._catalog.referrers(Key("Schedule", namespace, schedule))
        entries = [self._catalog.get(key) for key in sorted(keys) if key.kind == "Task"]
        return [entry for entry in entries if entry is not None and entry.model is not None]

    async def _fire(self, firing: scheduler_.Firing) -> None:
        skip = (firing.skip_reason, firing.skip_message) if firing.skip_reason else None
        limit = asyncio.Semaphore(FIRING_CONCURRENCY)
        schedule = self._catalog.get(Key("Schedule", firing.namespace, firing.schedule))
        zone = self._catalog.schedule_settings(schedule)[0] if schedule is not None and schedule.model is not None else None

        async def submit(task: catalog_.Entry) -> None:
            async with limit:
                await self._submit(Occurrence(
                    namespace=firing.namespace, task=task.key.name, task_uid=task.uid,
                    trigger_type="Schedule", trigger_name=firing.schedule, cause=timestamps.rfc3339(firing.instant),
                    scheduled_time=timestamps.rfc3339(firing.instant), missed=firing.missed, skip=skip, time_zone=zone,
                ))

        async def submit_group(group: catalog_.Entry) -> None:
            await self._submit_group(GroupOccurrence(
                namespace=firing.namespace, group=group.key.name, group_uid=group.uid,
                trigger_type="Schedule", trigger_name=firing.schedule, cause=timestamps.rfc3339(firing.instant),
                scheduled_time=timestamps.rfc3339(firing.instant), missed=firing.missed, skip=skip, time_zone=zone,
            ))

        tasks = [task for task in self._tasks_of(firing.namespace, firing.schedule) if self._catalog.task_active(task)]  # paused: ignored
        groups = self._catalog.active_groups(Key("Schedule", firing.namespace, firing.schedule))
        results = await asyncio.gather(*(submit(task) for task in tasks), *(submit_group(group) for group in groups), return_exceptions=True)
        for entry, result in zip(tasks + groups, results):
            if isinstance(result, Exception):
                logger.error("%s %s/%s: the run for %s could not start: %s", entry.key.kind, firing.namespace, entry.key.name, timestamps.rfc3339(firing.instant), result)
        self._writer.set("schedules", firing.namespace, firing.schedule, {"lastFireTime": timestamps.rfc3339(firing.instant)})
