"""Time as the API shows it: aware UTC datetimes, written as RFC 3339 with a `Z`."""

from __future__ import annotations

import datetime

UTC = datetime.timezone.utc


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def rfc3339(moment: datetime.datetime, *, ms: bool = False) -> str:
    """`2026-11-27T17:00:00Z`; with `ms`, `2026-11-27T17:00:00.123Z` (runs a moment apart must sort apart)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if ms else f"{text}Z"


def parse(text: str) -> datetime.datetime:
    """The inverse of rfc3339 (and any ISO 8601 instant with an offset)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
