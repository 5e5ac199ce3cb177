"""Calendar: days on which schedules do not fire."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskengine.api import common
from taskengine.api.common import Model


class PublicHolidays(Model):
    """Public holidays of a country (and a subdivision), from the `holidays` library."""

    country: str = Field(pattern=r"^[A-Za-z]{2,3}$")
    """ISO 3166 country code, e.g. DE."""
    subdivision: str | None = Field(default=None, max_length=16)
    """Subdivision code, e.g. BY for Bavaria."""


class CalendarSpec(Model):
    """Non-working days: whole local days in the time zone of the schedule that uses them."""

    description: str | None = None
    """What the calendar is for."""
    holidays: PublicHolidays | None = None
    """Public holidays to skip."""
    dates: list[Annotated[str, Field(pattern=common.LOCAL_DATE)]] = Field(default_factory=list)
    """Extra non-working days, YYYY-MM-DD."""
    skip_weekends: bool = False
    """Also skip Saturdays and Sundays."""


class CalendarStatus(common.StatusBase):
    """What the operator computed."""

    upcoming: list[str] = Field(default_factory=list)
    """The next few skipped dates."""


class Calendar(Model):
    """Holidays and other days on which schedules do not fire."""

    spec: CalendarSpec
    status: CalendarStatus | None = None
