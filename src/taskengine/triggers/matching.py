"""Does an object match an EventTrigger's `when`, and did this change make it match?

Pure functions. On Updated, `when` fires on the *transition*: the old object did not match and
the new one does, so an update while the state still holds fires nothing (one alert per
failure). To decide that without keeping whole objects, a watch keeps per object only the
`Memory` below: whether it matched, and the values of fields that `changed` clauses look at.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from taskengine.api import eventtrigger


@dataclasses.dataclass(frozen=True)
class Memory:
    matched: bool
    values: tuple[Any, ...]  # of the `changed` clauses' fields, in order


def field(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.strip(".").split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def has_condition(obj: dict[str, Any], wanted: eventtrigger.ConditionMatch) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == wanted.type and c.get("status") == wanted.status for c in conditions)


def holds(obj: dict[str, Any], clauses: list[eventtrigger.When]) -> bool:
    """Every clause but `changed` holds for the object."""
    for clause in clauses:
        if clause.condition is not None:
            if not has_condition(obj, clause.condition):
                return False
        elif clause.equals is not None:
            if text(field(obj, clause.field_path)) != clause.equals:
                return False
        elif clause.in_ is not None:
            if text(field(obj, clause.field_path)) not in clause.in_:
                return False
    return True


def remember(obj: dict[str, Any], clauses: list[eventtrigger.When]) -> Memory:
    return Memory(
        matched=holds(obj, clauses),
        values=tuple(field(obj, c.field_path) for c in clauses if c.changed),
    )


def fires(event: str, obj: dict[str, Any], before: Memory | None, spec: eventtrigger.EventTriggerSpec) -> bool:
    """Should this change (Created, Updated or Deleted) of `obj` fire the trigger?"""
    if event not in spec.events:
        return False
    now = remember(obj, spec.when)
    if not now.matched:
        return False
    if event != "Updated":
        return True
    if any(c.changed for c in spec.when):
        return before is None or before.values != now.values
    if not spec.when:
        return True  # no requirement: every update
    return before is None or not before.matched  # the transition into the matching state


DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    """A duration such as 5m, 90s, 1h30m or 500ms, in seconds."""
    return sum(float(amount) * UNIT_SECONDS[unit] for amount, unit in DURATION.findall(duration))
