"""EventTrigger: which occurrence runs tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from taskengine.api import common
from taskengine.api.common import Model

EventType = Literal["Created", "Updated", "Deleted"]


class WatchedResource(Model):
    """Objects of any kind, chosen by name or by tag; omit both for every object of the kind."""

    model_config = ConfigDict(
        json_schema_extra=common.cel(
            common.rule("!(has(self.name) && has(self.selector))", "set at most one of name or selector")
        )
    )

    api_version: str = Field(min_length=1, max_length=253)
    """apiVersion of the watched kind, e.g. v1 or batch/v1."""
    kind: str = Field(min_length=1, max_length=63)
    """Kind to watch, e.g. ConfigMap, Job, Event."""
    name: str | None = Field(default=None, pattern=common.DNS_SUBDOMAIN, max_length=253)
    """One object by name."""
    selector: common.LabelSelector | None = None
    """Objects whose labels match (the "tag"); applied by the API server."""
    namespace: str | None = Field(default=None, pattern=common.DNS_LABEL, max_length=63)
    """Namespace to watch. Default: the EventTrigger's namespace."""


class ConditionMatch(Model):
    """A status condition the object must have."""

    type: str = Field(min_length=1)
    """Condition type, e.g. Failed or Available."""
    status: Literal["True", "False", "Unknown"] = "True"
    """Condition status. Default True."""


class When(Model):
    """One requirement on the object: a field's value, or a status condition."""

    model_config = ConfigDict(
        json_schema_extra=common.cel(
            common.exactly_one("fieldPath", "condition"),
            common.rule(
                "!has(self.fieldPath) || [has(self.equals), has(self.__in__), has(self.changed)].exists_one(x, x)",
                "with fieldPath, exactly one of equals, in or changed must be set",
            ),
        )
    )

    field_path: str | None = Field(default=None, pattern=r"^(\.[^.\s]+)+$", max_length=512)
    """Path of a field, e.g. .status.phase or .metadata.labels.team."""
    equals: str | None = None
    """The field must equal this value, compared as text (write numbers and booleans as "3", "true")."""
    in_: list[str] | None = Field(default=None, alias="in", max_length=50)
    """The field must equal one of these values, compared as text."""
    changed: bool | None = None
    """true: the field's value changed in this update."""
    condition: ConditionMatch | None = None
    """The object must have this status condition."""


class IncomingWebhook(Model):
    """An HTTP endpoint of the operator, POST /hooks/<namespace>/<name>, that fires the trigger."""

    secret_ref: common.SecretKeyRef
    """Secret key holding the bearer token, also the key of the HMAC-SHA256 body signature."""


class EventTriggerSpec(Model):
    """Exactly one of resource or webhook."""

    model_config = ConfigDict(json_schema_extra=common.cel(common.exactly_one("resource", "webhook")))

    description: str | None = None
    """What the trigger is for."""
    resource: WatchedResource | None = None
    """Objects to watch."""
    events: list[EventType] = Field(default_factory=lambda: ["Created", "Updated", "Deleted"])
    """Which changes fire: Created, Updated, Deleted. Default all three."""
    when: list[When] = Field(default_factory=list, max_length=20)
    """Requirements that must all hold; on Updated they fire on the transition into the matching state."""
    for_: str | None = Field(default=None, alias="for", pattern=common.DURATION)
    """Debounce: the matching state must hold this long, e.g. 5m."""
    webhook: IncomingWebhook | None = None
    """An incoming HTTP trigger."""


class EventTriggerStatus(common.StatusBase):
    """What the operator observed."""

    last_triggered: str | None = None
    """When the trigger last fired."""
    trigger_count: int | None = None
    """How many times it fired."""
    resource_version: str | None = None
    """How far the operator's watch got; after a restart it replays the changes since (within the API server's compaction window)."""


class EventTrigger(Model):
    """An occurrence that runs tasks: a change to objects of any kind, or an incoming webhook."""

    spec: EventTriggerSpec
    status: EventTriggerStatus | None = None
