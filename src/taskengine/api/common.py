"""Pieces shared by every kind: the model base, conditions, references, label selectors.

The models are the single source of the CRDs (see `crdgen`): field docstrings become the
descriptions `kubectl explain` shows, `json_schema_extra` carries the CEL rules that the API
server enforces at apply time. The operator parses the same models, so the two never drift.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "taskengine.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
LOCAL_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
DATE_TIME = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
)
DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class Model(BaseModel):
    """Base of every API model: camelCase on the wire, field docstrings as descriptions.

    Unknown fields are ignored rather than refused: the API server already prunes them, and an
    operator older than its CRDs must keep working on the fields it knows.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


def exactly_one(*fields: str, message: str | None = None) -> dict[str, Any]:
    """A CEL rule (as `json_schema_extra`) that exactly one of `fields` is set."""
    names = ", ".join(fields[:-1]) + f" or {fields[-1]}"
    if len(fields) == 2:
        expression = f"has(self.{fields[0]}) != has(self.{fields[1]})"
    else:
        flags = ", ".join(f"has(self.{field})" for field in fields)
        expression = f"[{flags}].exists_one(x, x)"
    return {
        "rule": expression,
        "message": message or f"exactly one of {names} must be set",
    }


def cel(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


def rule(expression: str, message: str, *, field_path: str | None = None) -> dict[str, Any]:
    result = {"rule": expression, "message": message}
    if field_path:
        result["fieldPath"] = field_path
    return result


class Condition(Model):
    """The standard Kubernetes condition."""

    type: str
    """Type of the condition, e.g. Ready."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    reason: str = ""
    """One CamelCase word saying why the condition is in this status."""
    message: str = ""
    """A human-readable explanation: names the field and the problem."""
    last_transition_time: str | None = None
    """When the status last changed."""
    observed_generation: int | None = None
    """The metadata.generation this condition was computed from."""


CONDITIONS_SCHEMA = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


class StatusBase(Model):
    """What every kind but TaskLog reports, kstatus-compatible (Argo CD and Flux read it)."""

    observed_generation: int | None = None
    """The metadata.generation the operator last reconciled."""
    conditions: list[Condition] = Field(default_factory=list, json_schema_extra=CONDITIONS_SCHEMA)
    """Ready (and kind-specific conditions), with reason and message."""


class LabelSelectorRequirement(Model):
    """One label requirement, as in Kubernetes label selectors."""

    key: str
    """The label key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn, Exists or DoesNotExist."""
    values: list[str] = Field(default_factory=list)
    """Values for In and NotIn; empty for Exists and DoesNotExist."""


class LabelSelector(Model):
    """A label selector: the "tag" that picks a set of objects. Both parts must hold."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels an object must carry, key: value."""
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)
    """Further requirements on labels."""

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether an object with these labels is selected (the API server decides for real watches)."""
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        for requirement in self.match_expressions:
            present = requirement.key in labels
            value = labels.get(requirement.key)
            if requirement.operator == "In" and value not in requirement.values:
                return False
            if requirement.operator == "NotIn" and present and value in requirement.values:
                return False
            if requirement.operator == "Exists" and not present:
                return False
            if requirement.operator == "DoesNotExist" and present:
                return False
        return True

    def to_query(self) -> str:
        """The selector in the API server's `labelSelector` query syntax."""
        parts = [f"{key}={value}" for key, value in sorted(self.match_labels.items())]
        for requirement in self.match_expressions:
            values = ",".join(requirement.values)
            if requirement.operator == "In":
                parts.append(f"{requirement.key} in ({values})")
            elif requirement.operator == "NotIn":
                parts.append(f"{requirement.key} notin ({values})")
            elif requirement.operator == "Exists":
                parts.append(requirement.key)
            else:
                parts.append(f"!{requirement.key}")
        return ",".join(parts)


class SecretRef(Model):
    """A Secret in the same namespace."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of the Secret."""


class SecretKeyRef(Model):
    """One key of a Secret in the same namespace."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of the Secret."""
    key: str = "token"
    """Key inside the Secret's data. Default: token."""


class ObjectReference(Model):
    """A Kubernetes object, as far as a TaskLog needs to name it."""

    api_version: str
    """apiVersion of the object, e.g. apps/v1."""
    kind: str
    """Kind of the object, e.g. Deployment."""
    namespace: str | None = None
    """Namespace of the object (none for cluster-scoped kinds)."""
    name: str
    """Name of the object."""
    uid: str | None = None
    """UID of the object."""
    resource_version: str | None = None
    """resourceVersion of the object when it was seen."""


class LastRun(Model):
    """The most recent execution."""

    task_log: str | None = None
    """Name of its TaskLog."""
    phase: str | None = None
    """Phase of that TaskLog."""
    start_time: str | None = None
    """When it started."""
    completion_time: str | None = None
    """When it ended."""


class TriggerRef(Model):
    """One trigger: a Schedule or an EventTrigger in the same namespace."""

    model_config = ConfigDict(json_schema_extra=cel(exactly_one("schedule", "event")))

    schedule: str | None = Field(default=None, pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of a Schedule in this namespace."""
    event: str | None = Field(default=None, pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of an EventTrigger in this namespace."""
