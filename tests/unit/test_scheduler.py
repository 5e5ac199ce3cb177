"""The timer heap: arming, disarming, and what it does about occurrences missed during downtime."""

from __future__ import annotations

import asyncio
import datetime

from taskengine import recurrence
from taskengine.api.schedule import ScheduleSpec
from taskengine.triggers import scheduler

UTC = datetime.timezone.utc
NOON = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def every_minute(created: datetime.datetime = NOON - datetime.timedelta(days=1)) -> recurrence.Plan:
    return recurrence.Plan.build(ScheduleSpec.model_validate({"cron": "* * * * *"}), created=created)


def test_arming_publishes_the_next_five_and_disarming_forgets() -> None:
    published = {}
    timers = scheduler.Scheduler(fire=None, on_armed=lambda key, upcoming: published.update({key: upcoming}), clock=lambda: NOON)

    timers.arm("ns", "s", every_minute(NOON), last_fired=None, created=NOON, deadline_seconds=300)

    assert timers.next_fire_time("ns", "s") == NOON + datetime.timedelta(minutes=1)
    assert len(published[("ns", "s")]) == 5
    timers.disarm("ns", "s")
    assert timers.next_fire_time("ns", "s") is None and timers.armed_count == 0


def test_missed_within_the_deadline_runs_the_latest_and_counts_the_rest() -> None:
    fired: list[scheduler.Firing] = []

    async def fire(firing: scheduler.Firing) -> None:
        fired.append(firing)

    async def scenario() -> None:
        timers = scheduler.Scheduler(fire=fire, clock=lambda: NOON + datetime.timedelta(seconds=30))
        timers.arm("ns", "s", every_minute(), last_fired=NOON - datetime.timedelta(minutes=10), created=NOON, deadline_seconds=60)
        runner = asyncio.create_task(timers.run())
        await asyncio.sleep(0.05)
        runner.cancel()

    asyncio.run(scenario())

    assert fired == [scheduler.Firing("ns", "s", NOON, missed=9)]


def test_missed_past_the_deadline_is_recorded_as_skipped() -> None:
    timers = scheduler.Scheduler(fire=None, clock=lambda: NOON + datetime.timedelta(seconds=30))

    [firing] = timers.missed(("ns", "s"), every_minute(), since=NOON - datetime.timedelta(minutes=3),
                               until=NOON + datetime.timedelta(seconds=30), deadline=10)

    assert firing.instant == NOON and firing.missed == 2
    assert firing.skip_reason == "MissedDeadline"
    assert "30s late" in firing.skip_message and "startingDeadlineSeconds (10)" in firing.skip_message
