"""When schedules fire: time zones, DST, calendars, windows, validity; checked against a reference."""

from __future__ import annotations

import datetime
import zoneinfo

import croniter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskengine import recurrence
from taskengine.api.calendar import CalendarSpec
from taskengine.api.schedule import ScheduleSpec

UTC = datetime.timezone.utc
CREATED = datetime.datetime(2026, 1, 1, tzinfo=UTC)


def plan(spec: dict, zone: str = "UTC", *, created: datetime.datetime = CREATED, calendar: dict | None = None) -> recurrence.Plan:
    days = recurrence.workdays(CalendarSpec.model_validate(calendar)) if calendar else None
    return recurrence.Plan.build(ScheduleSpec.model_validate({**spec, "timeZone": zone}), created=created, workdays=days)


def local(p: recurrence.Plan, after: str, count: int = 4) -> list[str]:
    return [i.astimezone(p.zone).isoformat() for i in p.upcoming(datetime.datetime.fromisoformat(after), count)]


def between(p: recurrence.Plan, start: datetime.datetime, end: datetime.datetime) -> list[datetime.datetime]:
    found = []
    for instant in p.fire_times(start - datetime.timedelta(microseconds=1)):
        if instant >= end:
            break
        found.append(instant)
    return found


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # spring forward: 02:30 does not exist, fires once when the clock jumps
        ("Europe/Berlin", "2026-03-28T12:00:00+00:00", ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        # fall back: 02:30 happens twice, fires at the first
        ("Europe/Berlin", "2026-10-24T12:00:00+00:00", ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        ("America/New_York", "2026-03-07T12:00:00+00:00", ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
        ("America/New_York", "2026-10-31T12:00:00+00:00", ["2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"]),
        # Lord Howe moves by 30 minutes: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April
        ("Australia/Lord_Howe", "2026-10-03T00:00:00+00:00", ["2026-10-04T02:30:00+11:00", "2026-10-05T02:30:00+11:00"]),
        ("Asia/Kolkata", "2026-03-28T00:00:00+00:00", ["2026-03-29T02:30:00+05:30", "2026-03-30T02:30:00+05:30"]),
    ],
)
def test_daily_at_half_past_two_across_dst(zone: str, after: str, expected: list[str]) -> None:
    assert local(plan({"cron": "30 2 * * *"}, zone), after, 2) == expected


def test_lord_howe_half_hour_jump_fires_once_at_the_jump() -> None:
    p = plan({"cron": "15 2 * * *"}, "Australia/Lord_Howe")

    assert local(p, "2026-10-03T00:00:00+00:00", 2) == ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]


def test_lord_howe_fall_back_fires_the_first_occurrence() -> None:
    p = plan({"cron": "45 1 * * *"}, "Australia/Lord_Howe")

    assert local(p, "2026-04-04T00:00:00+00:00", 2) == ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_hourly_follows_real_time_every_real_hour_once(day: str, hours: int) -> None:
    zone = zoneinfo.ZoneInfo("Europe/Berlin")
    start = datetime.datetime.fromisoformat(day).replace(tzinfo=zone).astimezone(UTC)
    end = (datetime.datetime.fromisoformat(day) + datetime.timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)

    fired = between(plan({"cron": "0 * * * *"}, "Europe/Berlin"), start, end)

    assert len(fired) == hours
    assert all((b - a) == datetime.timedelta(hours=1) for a, b in zip(fired, fired[1:]))


def test_friday_six_pm_skips_christmas_and_new_year() -> None:
    holidays_de = {"holidays": {"country": "DE", "subdivision": "BY"}}
    p = plan({"cron": "0 18 * * 5"}, "Europe/Berlin", calendar=holidays_de)

    assert local(p, "2026-12-12T00:00:00+00:00", 3) == [
        "2026-12-18T18:00:00+01:00", "2027-01-08T18:00:00+01:00", "2027-01-15T18:00:00+01:00",
    ]


def test_calendar_policies_move_to_the_nearest_business_day() -> None:
    days_off = {"dates": ["2026-12-24"], "skipWeekends": True}
    on_the_24th = {"every": {"unit": "Days", "at": "09:00"}, "startTime": "2026-12-24T00:00:00"}

    skip = plan(on_the_24th, "Europe/Berlin", calendar=days_off)
    following = plan({**on_the_24th, "calendarPolicy": "NextBusinessDay"}, "Europe/Berlin", calendar=days_off)
    preceding = plan({**on_the_24th, "calendarPolicy": "PreviousBusinessDay"}, "Europe/Berlin", calendar=days_off)

    assert local(skip, "2026-12-20T00:00:00+00:00", 2) == ["2026-12-25T09:00:00+01:00", "2026-12-28T09:00:00+01:00"]
    # the 24th moves onto the 25th, which runs anyway: one run, not two; the weekend moves onto Monday
    assert local(following, "2026-12-20T00:00:00+00:00", 3) == ["2026-12-25T09:00:00+01:00", "2026-12-28T09:00:00+01:00", "2026-12-29T09:00:00+01:00"]
    assert local(preceding, "2026-12-20T00:00:00+00:00", 3) == ["2026-12-23T09:00:00+01:00", "2026-12-25T09:00:00+01:00", "2026-12-28T09:00:00+01:00"]


def test_every_two_weeks_on_friday_counts_from_the_start() -> None:
    p = plan({"every": {"interval": 2, "unit": "Weeks", "daysOfWeek": ["Friday"], "at": "18:00"}, "startTime": "2026-11-16T00:00:00"}, "Europe/Berlin")

    assert local(p, "2026-11-01T00:00:00+00:00", 3) == ["2026-11-20T18:00:00+01:00", "2026-12-04T18:00:00+01:00", "2026-12-18T18:00:00+01:00"]


def test_every_month_on_the_31st_falls_on_the_last_day() -> None:
    p = plan({"every": {"unit": "Months", "at": "09:00"}, "startTime": "2026-01-31T00:00:00Z"})

    assert local(p, "2026-01-31T10:00:00+00:00", 3) == ["2026-02-28T09:00:00+00:00", "2026-03-31T09:00:00+00:00", "2026-04-30T09:00:00+00:00"]


def test_every_90_minutes_is_elapsed_time_from_the_anchor() -> None:
    p = plan({"every": {"interval": 90, "unit": "Minutes"}}, "Europe/Berlin", created=datetime.datetime(2026, 10, 24, 23, 0, tzinfo=UTC))

    fired = p.upcoming(datetime.datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 4)

    assert [(b - a) for a, b in zip(fired, fired[1:])] == [datetime.timedelta(minutes=90)] * 3


def test_one_time_at_fires_once_in_its_zone() -> None:
    p = plan({"at": "2026-12-24T17:00:00"}, "Europe/Berlin")

    assert local(p, "2026-11-22T00:00:00+00:00", 3) == ["2026-12-24T17:00:00+01:00"]
    assert p.upcoming(datetime.datetime(2026, 12, 24, 16, 0, tzinfo=UTC)) == []


def test_window_and_end_time() -> None:
    p = plan({"cron": "*/30 * * * *", "window": {"start": "22:00", "end": "01:00"}, "endTime": "2026-11-23T00:30:00"}, "Europe/Berlin")

    assert local(p, "2026-11-22T12:00:00+00:00", 10) == [
        "2026-11-22T22:00:00+01:00", "2026-11-22T22:30:00+01:00", "2026-11-22T23:00:00+01:00",
        "2026-11-22T23:30:00+01:00", "2026-11-23T00:00:00+01:00", "2026-11-23T00:30:00+01:00",
    ]


def reference(expression: str, zone: zoneinfo.ZoneInfo, start: datetime.datetime, end: datetime.datetime, elapsed: bool) -> list[datetime.datetime]:
    """Minute by minute in real time: what the DST rule says, independently of the code under test."""
    fired = []
    moment = start
    previous = (moment - datetime.timedelta(minutes=1)).astimezone(zone)
    while moment < end:
        now = moment.astimezone(zone)
        wall = now.replace(tzinfo=None)
        due = croniter.croniter.match(expression, wall) and (elapsed or now.fold == 0)
        if not elapsed and not due:
            skipped = previous.replace(tzinfo=None) + datetime.timedelta(minutes=1)
            while skipped < wall:  # wall-clock minutes the clock jumped over
                if croniter.croniter.match(expression, skipped):
                    due = True
                skipped += datetime.timedelta(minutes=1)
        if due:
            fired.append(moment)
        previous = now
        moment += datetime.timedelta(minutes=1)
    return fired


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "Pacific/Chatham"]
TRANSITIONS = {  # days around which to look, per zone: the DST changes of 2026
    "Europe/Berlin": ["2026-03-29", "2026-10-25"], "America/New_York": ["2026-03-08", "2026-11-01"],
    "Australia/Lord_Howe": ["2026-04-05", "2026-10-04"], "Asia/Kolkata": ["2026-03-29"],
    "America/Santiago": ["2026-04-05", "2026-09-06"], "Pacific/Chatham": ["2026-04-05", "2026-09-27"],
}


@settings(max_examples=25, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    which=st.integers(0, 1),
    minute=st.sampled_from(["0", "15", "30", "45", "*/20", "5,50"]),
    hour=st.sampled_from(["0", "1", "2", "3", "23", "1-3", "*", "*/2"]),
)
def test_fire_times_match_the_minute_by_minute_reference(zone: str, which: int, minute: str, hour: str) -> None:
    days = TRANSITIONS[zone]
    day = datetime.date.fromisoformat(days[which % len(days)])
    start = datetime.datetime.combine(day, datetime.time(), UTC) - datetime.timedelta(hours=18)
    end = start + datetime.timedelta(hours=48)
    expression = f"{minute} {hour} * * *"
    p = plan({"cron": expression}, zone)

    assert between(p, start, end) == reference(expression, p.zone, start, end, p.elapsed_time)
