"""One timer for every Schedule: a heap of next instants, recomputed from the wall clock.

Kopf's timers run on monotonic intervals and a daemon per object costs a task and a finalizer
each; a cron needs neither. One asyncio task sleeps until the earliest due instant (at most a
minute, so a wall-clock jump is noticed), fires everything due, and re-arms each schedule from
its Plan. Editing a Schedule re-arms it at once; deleting it disarms it.

After downtime, the occurrences since the schedule last fired are looked at once: the latest
runs if it is at most `startingDeadlineSeconds` late, otherwise it is recorded as Skipped
(reason MissedDeadline) with how many were missed. The TaskLog names derive from the
instants, so a second replica or a restart firing the same instant changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable

from taskengine import timestamps
from taskengine import recurrence

logger = logging.getLogger("taskengine.scheduler")
MAX_SLEEP_SECONDS = 60.0
MISSED_SCAN_LIMIT = 100_000


@dataclasses.dataclass(frozen=True)
class Firing:
    """What the scheduler asks for at an instant."""

    namespace: str
    schedule: str
    instant: datetime.datetime
    missed: int = 0  # earlier occurrences missed during downtime, not run
    skip_reason: str | None = None  # set: record the occurrence as Skipped, do not run it
    skip_message: str | None = None


@dataclasses.dataclass
class Armed:
    plan: recurrence.Plan
    deadline: datetime.timedelta
    next: datetime.datetime | None
    version: int


class Scheduler:
    def __init__(
        self,
        *,
        fire: Callable[[Firing], Awaitable[None]],
        on_armed: Callable[[tuple[str, str], list[datetime.datetime]], None] = lambda key, upcoming: None,
        clock: Callable[[], datetime.datetime] = timestamps.now,
    ) -> None:
        self._fire = fire
        self._on_armed = on_armed
        self._clock = clock
        self._armed: dict[tuple[str, str], Armed] = {}
        self._heap: list[tuple[datetime.datetime, int, tuple[str, str], int]] = []
        self._sequence = itertools.count()
        self._versions = itertools.count(1)
        self._changed = asyncio.Event()
        self._catch_up: list[Firing] = []

    def arm(self, namespace: str, name: str, plan: recurrence.Plan, *, last_fired: datetime.datetime | None,
            created: datetime.datetime, deadline_seconds: int) -> None:
        """(Re)arms a schedule. `last_fired` (from its status) bounds the search for missed occurrences."""
        key = (namespace, name)
        current = self._clock()
        previous = self._armed.get(key)
        if previous is None:
            self._catch_up += self.missed(key, plan, since=last_fired or created, until=current, deadline=deadline_seconds)
        elif previous.next is not None and previous.next <= current:
            current = previous.next - datetime.timedelta(microseconds=1)  # due but not fired yet: keep it
        upcoming = plan.upcoming(current, 5)
        armed = Armed(plan, datetime.timedelta(seconds=deadline_seconds), upcoming[0] if upcoming else None, next(self._versions))
        self._armed[key] = armed
        if armed.next is not None:
            heapq.heappush(self._heap, (armed.next, next(self._sequence), key, armed.version))
        self._on_armed(key, upcoming)
        self._changed.set()

    def disarm(self, namespace: str, name: str) -> None:
        if self._armed.pop((namespace, name), None) is not None:
            self._changed.set()

    def next_fire_time(self, namespace: str, name: str) -> datetime.datetime | None:
        armed = self._armed.get((namespace, name))
        return armed.next if armed else None

    def is_armed(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._armed

    @property
    def armed_count(self) -> int:
        return len(self._armed)

    def missed(self, key: tuple[str, str], plan: recurrence.Plan, *, since: datetime.datetime, until: datetime.datetime,
                deadline: int) -> list[Firing]:
        missed = []
        for instant in plan.fire_times(since):
            if instant > until or len(missed) >= MISSED_SCAN_LIMIT:
                break
            missed.append(instant)
        if not missed:
            return []
        latest, count = missed[-1], len(missed)
        late = (until - latest).total_seconds()
        if late <= deadline:
            return [Firing(*key, latest, missed=count - 1)]
        earlier = f" (and {count - 1} earlier)" if count > 1 else ""
        return [Firing(
            *key, latest, missed=count - 1, skip_reason="MissedDeadline",
            skip_message=f"missed while the operator was down{earlier}: {late:.0f}s late, more than startingDeadlineSeconds ({deadline})",
        )]

    async def run(self) -> None:
        while True:
            while self._catch_up:
                await self._safely(self._catch_up.pop(0))
            current = self._clock()
            due = []
            while self._heap and self._heap[0][0] <= current:
                instant, _, key, version = heapq.heappop(self._heap)
                armed = self._armed.get(key)
                if armed is None or armed.version != version:
                    continue  # disarmed or re-armed since
                due.append(Firing(*key, instant))
                upcoming = armed.plan.upcoming(instant, 5)
                armed.next = upcoming[0] if upcoming else None
                if armed.next is not None:
                    heapq.heappush(self._heap, (armed.next, next(self._sequence), key, version))
                self._on_armed(key, upcoming)
            if due:
                await asyncio.gather(*(self._safely(firing) for firing in due))
                continue
            delay = MAX_SLEEP_SECONDS
            if self._heap:
                delay = min(delay, max(0.0, (self._heap[0][0] - self._clock()).total_seconds()))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _safely(self, firing: Firing) -> None:
        try:
            await self._fire(firing)
        except asyncio.CancelledError:
            raise
        except Exception:  # one schedule's failure must not stop the others
            logger.exception("firing schedule %s/%s at %s failed", firing.namespace, firing.schedule, firing.instant)
