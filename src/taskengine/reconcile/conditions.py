"""The one place that writes Kubernetes conditions."""

from __future__ import annotations

from typing import Any

from taskengine import timestamps


def merge(
    current: list[dict[str, Any]],
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """`current` with the condition `type_` set; lastTransitionTime moves only when status does."""
    value = "True" if status else "False"
    previous = next((c for c in current if c.get("type") == type_), None)
    transition = previous.get("lastTransitionTime") if previous and previous.get("status") == value else None
    condition = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition or timestamps.rfc3339(timestamps.now()),
        "observedGeneration": generation,
    }
    return [c for c in current if c.get("type") != type_] + [condition]


def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Equal but for lastTransitionTime, and regardless of order."""

    def key(conditions: list[dict[str, Any]]) -> list[tuple]:
        return sorted(
            tuple(sorted((k, str(v)) for k, v in c.items() if k != "lastTransitionTime")) for c in conditions
        )

    return key(a) == key(b)
