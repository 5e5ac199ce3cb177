"""Schedule: when tasks run."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from taskengine.api import common
from taskengine.api.common import Model

CRON = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+( +\S+){4})$"
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class Every(Model):
    """A recurrence: every N units, optionally on chosen weekdays at a time of day."""

    model_config = ConfigDict(
        json_schema_extra=common.cel(
            common.rule(
                "!has(self.at) || self.unit in ['Days', 'Weeks', 'Months', 'Years']",
                "at (a time of day) is for Days, Weeks, Months and Years",
                field_path=".at",
            )
        )
    )

    interval: int = Field(default=1, ge=1)
    """How many units between runs. Default 1."""
    unit: Literal["Seconds", "Minutes", "Hours", "Days", "Weeks", "Months", "Years"]
    """Seconds, Minutes, Hours, Days, Weeks, Months or Years."""
    days_of_week: list[Weekday] = Field(default_factory=list)
    """Only on these weekdays."""
    at: str | None = Field(default=None, pattern=common.TIME_OF_DAY)
    """Time of day, HH:MM, in timeZone."""


class Window(Model):
    """A daily window, HH:MM to HH:MM in timeZone; an end before the start spans midnight."""

    start: str = Field(pattern=common.TIME_OF_DAY)
    """Start of the window, HH:MM."""
    end: str = Field(pattern=common.TIME_OF_DAY)
    """End of the window, HH:MM."""


class ScheduleSpec(Model):
    """When to run: exactly one of cron, every or at."""

    model_config = ConfigDict(json_schema_extra=common.cel(common.exactly_one("cron", "every", "at")))

    description: str | None = None
    """What the schedule is for."""
    cron: str | None = Field(default=None, pattern=CRON, max_length=256)
    """A 5-field cron expression, or @hourly, @daily, @weekly, @monthly, @yearly."""
    every: Every | None = None
    """A recurrence counted from startTime (default: when the Schedule was created)."""
    at: str | None = Field(default=None, pattern=common.DATE_TIME)
    """One time only ("does not repeat"), e.g. 2026-12-24T17:00:00; without an offset it is in timeZone."""
    time_zone: str = Field(default="UTC", max_length=64)
    """IANA time zone, e.g. Europe/Berlin. Default UTC."""
    start_time: str | None = Field(default=None, pattern=common.DATE_TIME)
    """No runs before this instant; without an offset it is in timeZone."""
    end_time: str | None = Field(default=None, pattern=common.DATE_TIME)
    """No runs after this instant ("end date"); without it a recurring schedule never ends."""
    window: Window | None = None
    """Only fire inside this daily window."""
    calendar: str | None = Field(default=None, pattern=common.DNS_SUBDOMAIN, max_length=253)
    """A Calendar (in this namespace) whose days are skipped."""
    calendar_policy: Literal["Skip", "NextBusinessDay", "PreviousBusinessDay"] = "Skip"
    """What happens to an occurrence on a calendar day: Skip, or move it to the Next/Previous business day."""
    suspend: bool = False
    """true: fire nothing until set back to false."""
    starting_deadline_seconds: int = Field(default=300, ge=0)
    """After downtime, run a missed occurrence only if it is at most this late; else it is logged as Skipped. Default 300."""


class ScheduleStatus(common.StatusBase):
    """What the operator computed."""

    next_fire_time: str | None = None
    """The next time the schedule fires."""
    upcoming: list[str] = Field(default_factory=list)
    """The next 5 fire times, after calendar, window, DST and endTime."""
    last_fire_time: str | None = None
    """When the schedule last fired."""
    done: bool | None = None
    """true when it will not fire again: a one-time `at` that is past, or a recurrence past its endTime."""


class Schedule(Model):
    """When tasks run: cron, a recurrence every N units, or one time; in a time zone, skipping calendar days."""

    spec: ScheduleSpec
    status: ScheduleStatus | None = None
