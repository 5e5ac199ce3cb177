"""The one variable expander: `${NAME}`, `${params.x}`, `${object.metadata.labels.team}`, ...

An unknown variable is an error naming it, never an empty string: a typo in a payload must
fail the run loudly rather than post half a message. `$${` is a literal `${`.
"""

from __future__ import annotations

import dataclasses
import email.utils
import datetime
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\$(\$?)\{([^{}]*)\}")
SIMPLE = ("DATE", "TIMESTAMP", "RANDOM", "NAME", "NAMESPACE", "KIND", "EVENT", "TASK", "TRIGGER", "RUN", "PHASE")


class UnknownVariable(ValueError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"unknown variable ${{{name}}}: {reason}")
        self.name = name


@dataclasses.dataclass(frozen=True)
class Variables:
    """What a template may refer to. None means "not available in this run"."""

    now: datetime.datetime  # aware; ${DATE} is rendered in its zone
    task: str
    run: str
    trigger: str
    name: str | None = None
    namespace: str | None = None
    kind: str | None = None
    event: str | None = None
    phase: str | None = None
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    object: Mapping[str, Any] | None = None
    payload: Any = None

    def with_target(self, obj: Mapping[str, Any]) -> Variables:
        """The same variables, with NAME/NAMESPACE/KIND/object of one target object."""
        metadata = obj.get("metadata", {})
        return dataclasses.replace(
            self, name=metadata.get("name"), namespace=metadata.get("namespace"), kind=obj.get("kind"), object=obj
        )

    def resolve(self, name: str) -> Any:
        head, _, path = name.partition(".")
        if path:
            if head == "params":
                if path not in self.params:
                    known = ", ".join(sorted(self.params)) or "none"
                    raise UnknownVariable(name, f"no parameter {path!r} (parameters: {known})")
                return self.params[path]
            if head in ("object", "payload"):
                source = self.object if head == "object" else self.payload
                if source is None:
                    raise UnknownVariable(name, f"this run has no {head}")
                return _walk(source, path.split("."), name)
            raise UnknownVariable(name, "only params., object. and payload. take a path")
        if name == "DATE":
            return email.utils.format_datetime(self.now)
        if name == "TIMESTAMP":
            return str(int(self.now.timestamp()))
        if name == "RANDOM":
            return str(secrets.randbelow(2**31))
        if name not in SIMPLE:
            raise UnknownVariable(name, "known are " + ", ".join(f"${{{v}}}" for v in SIMPLE) + ", ${params.*}, ${object.*}, ${payload.*}")
        value = getattr(self, name.lower())
        if value is None:
            raise UnknownVariable(name, "not available for this run")
        return value


def _walk(source: Any, parts: list[str], name: str) -> Any:
    value = source
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise UnknownVariable(name, f"no field {part!r}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def expand(template: str, variables: Variables, *, json_escape: bool = False) -> str:
    """`template` with every `${...}` replaced; with json_escape, values are escaped for a JSON string."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # $${...} is the literal ${...}
            return "${" + match.group(2) + "}"
        text = _text(variables.resolve(match.group(2).strip()))
        return json.dumps(text)[1:-1] if json_escape else text

    return PLACEHOLDER.sub(replace, template)


def expand_all(value: Any, variables: Variables) -> Any:
    """Every string inside a manifest or patch, expanded (keys too)."""
    if isinstance(value, str):
        return expand(value, variables)
    if isinstance(value, list):
        return [expand_all(item, variables) for item in value]
    if isinstance(value, dict):
        return {expand(str(key), variables): expand_all(item, variables) for key, item in value.items()}
    return value


def looks_like_json(template: str) -> bool:
    return template.lstrip()[:1] in ("{", "[")
