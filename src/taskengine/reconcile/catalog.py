"""What the operator knows of the cluster's taskengine objects, and who refers to whom.

Fed by watch events; read by the checks. Keeping the reverse references here lets a change
to one object (a Schedule appears, a Secret goes away) re-evaluate exactly the objects that
name it, at once, instead of waiting for a periodic resync.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any, NamedTuple

import pydantic

from taskengine.api import kinds


class Key(NamedTuple):
    kind: str
    namespace: str
    name: str


class Reference(NamedTuple):
    """`field` of an object names the object `kind`/`name` (in the same namespace)."""

    field: str
    kind: str
    name: str
    key: str | None = None  # for Secrets: the data key that must exist


@dataclasses.dataclass
class Entry:
    key: Key
    generation: int | None
    uid: str
    created: str  # metadata.creationTimestamp
    spec: dict[str, Any]
    status: dict[str, Any]
    model: pydantic.BaseModel | None  # the parsed spec, None when it does not parse
    error: pydantic.ValidationError | None
    references: tuple[Reference, ...]


def references(kind: str, spec: Any) -> tuple[Reference, ...]:
    """Every reference a parsed spec makes, with the field that makes it."""
    found: list[Reference] = []

    def triggers(items: list) -> None:
        for index, trigger in enumerate(items):
            if trigger.schedule:
                found.append(Reference(f"spec.triggers[{index}].schedule", "Schedule", trigger.schedule))
            if trigger.event:
                found.append(Reference(f"spec.triggers[{index}].event", "EventTrigger", trigger.event))

    if kind == "Task":
        triggers(spec.triggers)
        if spec.group:
            found.append(Reference("spec.group", "TaskGroup", spec.group))
        for index, other in enumerate(spec.depends_on):
            found.append(Reference(f"spec.dependsOn[{index}]", "Task", other))
        if spec.action.webhook:
            found.append(Reference("spec.action.webhook.webhookRef", "Webhook", spec.action.webhook.webhook_ref))
        if spec.action.email:
            found.append(Reference("spec.action.email.smtpSecretRef", "Secret", spec.action.email.smtp_secret_ref))
        for stage in ("on_start", "on_success", "on_failure"):
            field = "spec.notify." + pydantic.alias_generators.to_camel(stage)
            for index, notification in enumerate(getattr(spec.notify, stage)):
                if notification.webhook_ref:
                    found.append(Reference(f"{field}[{index}].webhookRef", "Webhook", notification.webhook_ref))
                if notification.email:
                    found.append(
                        Reference(f"{field}[{index}].email.smtpSecretRef", "Secret", notification.email.smtp_secret_ref)
                    )
    elif kind == "TaskGroup":
        triggers(spec.triggers)
        if spec.calendar:
            found.append(Reference("spec.calendar", "Calendar", spec.calendar))
    elif kind == "Schedule":
        if spec.calendar:
            found.append(Reference("spec.calendar", "Calendar", spec.calendar))
    elif kind == "EventTrigger":
        if spec.webhook:
            ref = spec.webhook.secret_ref
            found.append(Reference("spec.webhook.secretRef", "Secret", ref.name, ref.key))
    elif kind == "Webhook":
        if spec.auth.secret_ref:
            found.append(Reference("spec.auth.secretRef", "Secret", spec.auth.secret_ref.name))
        if spec.signing:
            ref = spec.signing.secret_ref
            found.append(Reference("spec.signing.secretRef", "Secret", ref.name, ref.key))
    return tuple(found)


class Catalog:
    def __init__(self) -> None:
        self._entries: dict[Key, Entry] = {}
        self._secrets: dict[tuple[str, str], frozenset[str]] = {}
        self._referrers: dict[Key, set[Key]] = defaultdict(set)

    # -- our kinds -----------------------------------------------------------------------

    def put(self, kind: str, body: dict[str, Any]) -> tuple[Entry | None, Entry]:
        """Stores an object; returns (previous entry, new entry)."""
        metadata = body.get("metadata", {})
        key = Key(kind, metadata.get("namespace", ""), metadata["name"])
        spec = body.get("spec") or {}
        spec_model = kinds.BY_KIND[kind].model.model_fields["spec"].annotation
        previous = self._entries.get(key)
        if previous and previous.spec == spec and previous.generation == metadata.get("generation"):
            previous.status = body.get("status") or {}
            return previous, previous
        try:
            model, error = spec_model.model_validate(spec), None
        except pydantic.ValidationError as exc:
            model, error = None, exc
        entry = Entry(
            key=key,
            generation=metadata.get("generation"),
            uid=metadata.get("uid", ""),
            created=metadata.get("creationTimestamp", ""),
            spec=spec,
            status=body.get("status") or {},
            model=model,
            error=error,
            references=references(kind, model) if model is not None else (),
        )
        self._unindex(previous)
        self._entries[key] = entry
        for reference in entry.references:
            self._referrers[Key(reference.kind, key.namespace, reference.name)].add(key)
        return previous, entry

    def remove(self, key: Key) -> Entry | None:
        entry = self._entries.pop(key, None)
        self._unindex(entry)
        return entry

    def get(self, key: Key) -> Entry | None:
        return self._entries.get(key)

    def exists(self, key: Key) -> bool:
        if key.kind == "Secret":
            return (key.namespace, key.name) in self._secrets
        return key in self._entries

    def referrers(self, key: Key) -> set[Key]:
        return set(self._referrers.get(key, ()))

    def entries(self, kind: str | None = None) -> list[Entry]:
        return [entry for key, entry in self._entries.items() if kind is None or key.kind == kind]

    def group_members(self, namespace: str, group: str) -> list[Entry]:
        keys = self._referrers.get(Key("TaskGroup", namespace, group), ())
        return [self._entries[key] for key in sorted(keys) if key.kind == "Task" and key in self._entries]

    def active_groups(self, trigger: Key) -> list[Entry]:
        """The valid, active TaskGroups that list this Schedule or EventTrigger: each runs as a whole."""
        entries = [self._entries.get(key) for key in sorted(self.referrers(trigger)) if key.kind == "TaskGroup"]
        return [entry for entry in entries if entry is not None and entry.model is not None and entry.model.active]

    def lenders(self, schedule: Key) -> list[Entry]:
        """The TaskGroups a Schedule inherits from: those that list it, and the groups of the Tasks that list it."""
        names = set()
        for key in self.referrers(schedule):
            entry = self._entries.get(key)
            if entry is None or entry.model is None:
                continue
            if key.kind == "TaskGroup":
                names.add(key.name)
            elif key.kind == "Task" and entry.model.group:
                names.add(entry.model.group)
        found = [self._entries.get(Key("TaskGroup", schedule.namespace, name)) for name in sorted(names)]
        return [entry for entry in found if entry is not None and entry.model is not None]

    def inherited(self, schedule: Key, field: str) -> dict[str, list[str]]:
        """What the lending groups set for `field` (time_zone or calendar): value -> the groups that set it."""
        values: dict[str, list[str]] = {}
        for group in self.lenders(schedule):
            value = getattr(group.model, field)
            if value:
                values.setdefault(value, []).append(group.key.name)
        return values

    def schedule_settings(self, schedule: Entry) -> tuple[str, str | None]:
        """The time zone and calendar a Schedule runs with: its own, else its groups' (when they agree), else UTC and none."""
        spec = schedule.model
        zones = self.inherited(schedule.key, "time_zone")
        calendars = self.inherited(schedule.key, "calendar")
        zone = spec.time_zone if "time_zone" in spec.model_fields_set or len(zones) != 1 else next(iter(zones))
        calendar = spec.calendar if "calendar" in spec.model_fields_set or len(calendars) != 1 else next(iter(calendars))
        return zone, calendar

    def task_active(self, task: Entry) -> bool:
        """A valid Task that is enabled and whose group (if any) is active: it answers its triggers."""
        if task.model is None or not task.model.enabled:
            return False
        if not task.model.group:
            return True
        group = self._entries.get(Key("TaskGroup", task.key.namespace, task.model.group))
        return group is None or group.model is None or group.model.active

    # -- secrets: names and data keys only, never values -----------------------------------

    def put_secret(self, namespace: str, name: str, keys: frozenset[str]) -> bool:
        """Stores a Secret's data keys; True when that is news (new Secret or other keys)."""
        changed = self._secrets.get((namespace, name)) != keys
        self._secrets[(namespace, name)] = keys
        return changed

    def remove_secret(self, namespace: str, name: str) -> None:
        self._secrets.pop((namespace, name), None)

    def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        return self._secrets.get((namespace, name))

    def _unindex(self, entry: Entry | None) -> None:
        if entry is None:
            return
        for reference in entry.references:
            target = Key(reference.kind, entry.key.namespace, reference.name)
            self._referrers[target].discard(entry.key)
            if not self._referrers[target]:
                del self._referrers[target]
