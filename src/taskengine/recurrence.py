"""When a Schedule fires: pure functions of its spec, its zone, its anchor and its calendar.

Every replica must compute the same instants, so nothing here reads a clock: callers pass
`after`. The DST rule is the classic cron one, which croniter alone does not implement (it
fires `30 2 * * *` twice in a fall-back hour):

- at a fixed time of day (a fixed hour in cron; `every` Days/Weeks/Months/Years; `at`), a
  wall-clock time that does not exist (spring forward) fires once, when the clock jumps; one
  that occurs twice (fall back) fires once, at its first occurrence;
- schedules running every hour or more often (`*` or a step in cron's hour field; `every`
  Seconds/Minutes/Hours) follow real elapsed time: every real hour gets its runs, none twice.

Wall-clock candidates come from croniter on naive local times (pure calendar arithmetic);
turning them into instants is ours.
"""

from __future__ import annotations

import calendar as calendar_
import dataclasses
import datetime
import heapq
import zoneinfo
from collections.abc import Callable, Iterator

import croniter
import holidays

from taskengine.api import calendar as calendar_api
from taskengine.api import schedule as schedule_api

UTC = datetime.timezone.utc
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SUB_DAY = {"Seconds": 1, "Minutes": 60, "Hours": 3600}
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# local wall times are at most this far from UTC: instants behind the candidate stream by
# more than this are final and can be yielded in order
SETTLE = datetime.timedelta(hours=15)
POLICY_SEARCH_DAYS = 31


# -- wall-clock times to instants ---------------------------------------------------------

def exists(naive: datetime.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """False for a wall-clock time skipped by a spring-forward transition."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def ambiguous(naive: datetime.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """True for a wall-clock time that a fall-back transition makes occur twice."""
    return exists(naive, zone) and naive.replace(tzinfo=zone, fold=0).utcoffset() != naive.replace(tzinfo=zone, fold=1).utcoffset()


def jump_instant(naive: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """For a skipped wall-clock time: the instant the clock jumped over it."""
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the offset after the jump
    high = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)  # read with the offset before it
    after = high.astimezone(zone).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while lo < hi:  # the first second that has the new offset
        middle = (lo + hi) // 2
        if datetime.datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == after:
            hi = middle
        else:
            lo = middle + 1
    return datetime.datetime.fromtimestamp(lo, UTC)


def wall_instant(naive: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """A fixed time of day as an instant: its first occurrence, or the jump over it."""
    if not exists(naive, zone):
        return jump_instant(naive, zone)
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def elapsed_instants(naive: datetime.datetime, zone: zoneinfo.ZoneInfo) -> list[datetime.datetime]:
    """A wall-clock time in real time: none if skipped, both if it occurs twice."""
    if not exists(naive, zone):
        return []
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return [first] if first == second else [first, second]


def parse_instant(text: str, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """An `at`/startTime/endTime value; without an offset it is a wall-clock time in `zone`."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return wall_instant(moment, zone)
    return moment.astimezone(UTC)


# -- calendars -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Workdays:
    """Which local dates are working days: `is_off` answers for a date."""

    is_off: Callable[[datetime.date], bool]

    def shift(self, day: datetime.date, step: int) -> datetime.date | None:
        for _ in range(POLICY_SEARCH_DAYS):
            day += datetime.timedelta(days=step)
            if not self.is_off(day):
                return day
        return None


# -- the plan ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Plan:
    """A Schedule ready to compute instants. `anchor` counts `every` intervals (startTime, else creation)."""

    spec: schedule_api.ScheduleSpec
    zone: zoneinfo.ZoneInfo
    anchor: datetime.datetime
    workdays: Workdays | None = None

    @classmethod
    def build(cls, spec: schedule_api.ScheduleSpec, *, created: datetime.datetime, workdays: Workdays | None = None,
              zone: str | None = None) -> Plan:
        tz = zoneinfo.ZoneInfo(zone or spec.time_zone)
        anchor = parse_instant(spec.start_time, tz) if spec.start_time else created.astimezone(UTC)
        return cls(spec=spec, zone=tz, anchor=anchor, workdays=workdays)

    @property
    def elapsed_time(self) -> bool:
        """Does the schedule follow real elapsed time (hourly or more often) rather than the wall clock?"""
        if self.spec.every is not None:
            return self.spec.every.unit in SUB_DAY
        if self.spec.cron is not None:
            hour = _cron_fields(self.spec.cron)[1]
            return hour == "*" or "/" in hour
        return False

    # -- raw candidates: the recurrence alone, ascending, strictly after `after` --

    def candidates(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        spec = self.spec
        if spec.at is not None:
            moment = parse_instant(spec.at, self.zone)
            if moment > after:
                yield moment
            return
        if spec.every is not None and spec.every.unit in SUB_DAY:
            yield from self._every_elapsed(after)
            return
        naive_times = self._cron_naive(after) if spec.cron is not None else self._every_naive(after)
        to_instants = (lambda n: elapsed_instants(n, self.zone)) if self.elapsed_time else (lambda n: [wall_instant(n, self.zone)])
        heap: list[datetime.datetime] = []
        last: datetime.datetime | None = None
        for naive in naive_times:
            for instant in to_instants(naive):
                if instant > after:
                    heapq.heappush(heap, instant)
            horizon = naive.replace(tzinfo=UTC) - SETTLE
            while heap and heap[0] < horizon:
                instant = heapq.heappop(heap)
                if instant != last:
                    last = instant
                    yield instant

    def _cron_naive(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        start = after.astimezone(self.zone).replace(tzinfo=None) - datetime.timedelta(hours=3)
        iterator = croniter.croniter(_cron_expression(self.spec.cron), start)
        while True:
            yield iterator.get_next(datetime.datetime)

    def _every_elapsed(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        every = self.spec.every
        period = every.interval * SUB_DAY[every.unit]
        step = max(0, int((after - self.anchor).total_seconds() // period) + 1)
        days = {WEEKDAYS.index(day) for day in every.days_of_week}
        while True:
            instant = self.anchor + datetime.timedelta(seconds=step * period)
            step += 1
            if instant > after and (not days or instant.astimezone(self.zone).weekday() in days):
                yield instant

    def _every_naive(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        every = self.spec.every
        local_anchor = self.anchor.astimezone(self.zone)
        anchor_day = local_anchor.date()
        time_of_day = datetime.time.fromisoformat(every.at) if every.at else local_anchor.time().replace(microsecond=0)
        days = {WEEKDAYS.index(day) for day in every.days_of_week}
        day = max(anchor_day, (after.astimezone(self.zone) - datetime.timedelta(days=1)).date())
        if every.unit in ("Months", "Years"):
            yield from self._every_calendar_months(day, anchor_day, time_of_day, days)
            return
        while True:
            if every.unit == "Days":
                due = (day - anchor_day).days % every.interval == 0 and (not days or day.weekday() in days)
            else:  # Weeks: weeks counted from the anchor's week (Monday to Sunday)
                weeks = ((day - datetime.timedelta(days=day.weekday())) - (anchor_day - datetime.timedelta(days=anchor_day.weekday()))).days // 7
                due = weeks % every.interval == 0 and day.weekday() in (days or {anchor_day.weekday()})
            if due:
                yield datetime.datetime.combine(day, time_of_day)
            day += datetime.timedelta(days=1)

    def _every_calendar_months(self, day: datetime.date, anchor_day: datetime.date, time_of_day: datetime.time, days: set[int]) -> Iterator[datetime.datetime]:
        every = self.spec.every
        step = 12 * every.interval if every.unit == "Years" else every.interval
        months = (day.year - anchor_day.year) * 12 + day.month - anchor_day.month
        index = max(0, months // step - 1)
        while True:
            total = anchor_day.month - 1 + index * step
            year, month = anchor_day.year + total // 12, total % 12 + 1
            date = datetime.date(year, month, min(anchor_day.day, calendar_.monthrange(year, month)[1]))  # 31st -> last day
            index += 1
            if not days or date.weekday() in days:
                yield datetime.datetime.combine(date, time_of_day)

    # -- what actually fires: window, validity, calendar policy --

    def fire_times(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        """The instants the schedule fires, ascending, strictly after `after`."""
        spec = self.spec
        start = parse_instant(spec.start_time, self.zone) if spec.start_time else None
        end = parse_instant(spec.end_time, self.zone) if spec.end_time else None
        policy = spec.calendar_policy if self.workdays else "Skip"
        lookback = datetime.timedelta(days=POLICY_SEARCH_DAYS) if policy == "PreviousBusinessDay" else datetime.timedelta(0)
        pending: list[datetime.datetime] = []
        last: datetime.datetime | None = None
        for candidate in self.candidates(after - lookback):
            if end is not None and candidate > end + lookback:
                break
            if (start is None or candidate >= start) and self._in_window(candidate):
                moved = self._apply_calendar(candidate, policy)
                if moved is not None and moved > after and (end is None or moved <= end):
                    heapq.heappush(pending, moved)
            # a later candidate can move at most `lookback` earlier: earlier ones are final
            while pending and pending[0] <= candidate - lookback:
                instant = heapq.heappop(pending)
                if instant != last:
                    last = instant
                    yield instant
        while pending:
            instant = heapq.heappop(pending)
            if instant != last:
                last = instant
                yield instant

    def upcoming(self, after: datetime.datetime, count: int = 5, *, horizon_days: int = 3660) -> list[datetime.datetime]:
        result = []
        limit = after + datetime.timedelta(days=horizon_days)
        for instant in self.fire_times(after):
            if instant > limit:
                break
            result.append(instant)
            if len(result) == count:
                break
        return result

    def _in_window(self, instant: datetime.datetime) -> bool:
        window = self.spec.window
        if window is None:
            return True
        local = instant.astimezone(self.zone).time()
        start, end = datetime.time.fromisoformat(window.start), datetime.time.fromisoformat(window.end)
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # spans midnight

    def _apply_calendar(self, instant: datetime.datetime, policy: str) -> datetime.datetime | None:
        if self.workdays is None:
            return instant
        local = instant.astimezone(self.zone)
        if not self.workdays.is_off(local.date()):
            return instant
        if policy == "Skip":
            return None
        day = self.workdays.shift(local.date(), 1 if policy == "NextBusinessDay" else -1)
        if day is None:
            return None
        return wall_instant(datetime.datetime.combine(day, local.time().replace(tzinfo=None)), self.zone)


def _cron_expression(expression: str) -> str:
    return MACROS.get(expression.strip(), expression)


def _cron_fields(expression: str) -> list[str]:
    return _cron_expression(expression).split()


def workdays(spec: calendar_api.CalendarSpec) -> Workdays:
    """The non-working days of a Calendar: public holidays, extra dates, weekends."""
    extra = {datetime.date.fromisoformat(text) for text in spec.dates}
    public = None
    if spec.holidays is not None:
        public = holidays.country_holidays(spec.holidays.country.upper(), subdiv=spec.holidays.subdivision)
    skip_weekends = spec.skip_weekends

    def is_off(day: datetime.date) -> bool:
        return day in extra or (skip_weekends and day.weekday() >= 5) or (public is not None and day in public)

    return Workdays(is_off)


def off_days(days: Workdays, start: datetime.date, count: int = 10, *, horizon_days: int = 730) -> list[datetime.date]:
    """The next `count` non-working days from `start` on."""
    found = []
    for offset in range(horizon_days):
        day = start + datetime.timedelta(days=offset)
        if days.is_off(day):
            found.append(day)
            if len(found) == count:
                break
    return found
