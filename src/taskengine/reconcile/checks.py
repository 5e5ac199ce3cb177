"""What only the operator can check: references, served kinds, zones, countries, cycles.

Each check returns Problems; a problem names the field, the value and what is wrong, and
becomes the Ready condition's reason and message. Nothing here raises on bad input.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from typing import Any

import croniter
import holidays
import pydantic

from taskengine import dag
from taskengine.kube import access as access_
from taskengine.kube import discovery as discovery_
from taskengine.reconcile import catalog as catalog_
from taskengine.reconcile.catalog import Key


@dataclasses.dataclass(frozen=True)
class Problem:
    reason: str
    message: str


@dataclasses.dataclass
class Outcome:
    problems: list[Problem] = dataclasses.field(default_factory=list)
    status: dict[str, Any] = dataclasses.field(default_factory=dict)  # kind-specific status fields
    conditions: list[tuple[str, bool, str, str]] = dataclasses.field(default_factory=list)  # extra ones

    @property
    def ready(self) -> bool:
        return not self.problems


def spec_errors(error: pydantic.ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        path = "spec" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
        problems.append(Problem("InvalidSpec", f"{path}: {item['msg']}"))
    return problems


def check_references(entry: catalog_.Entry, catalog: catalog_.Catalog) -> list[Problem]:
    problems = []
    namespace = entry.key.namespace
    for reference in entry.references:
        if reference.kind == "Task":
            continue  # dependsOn is checked with the group
        target = Key(reference.kind, namespace, reference.name)
        if not catalog.exists(target):
            problems.append(
                Problem(
                    "ReferenceNotFound",
                    f'{reference.field}: {reference.kind} "{reference.name}" not found in namespace "{namespace}"',
                )
            )
        elif reference.kind == "Secret" and reference.key is not None:
            if reference.key not in (catalog.secret_keys(namespace, reference.name) or ()):
                problems.append(
                    Problem(
                        "SecretKeyNotFound",
                        f'{reference.field}: Secret "{reference.name}" has no key "{reference.key}"',
                    )
                )
    return problems


def check_time_zone(field: str, name: str | None) -> list[Problem]:
    if not name:
        return []
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [Problem("InvalidTimeZone", f'{field}: unknown time zone "{name}" (use an IANA name such as Europe/Berlin)')]
    return []


def check_cron(expression: str | None) -> list[Problem]:
    if not expression:
        return []
    try:
        croniter.croniter(expression)
    except (croniter.CroniterError, ValueError, KeyError) as error:
        return [Problem("InvalidCron", f'spec.cron: "{expression}" is not a valid cron expression: {error}')]
    return []


def check_holidays(spec: Any) -> list[Problem]:
    if spec.holidays is None:
        return []
    supported = holidays.list_supported_countries()
    country = spec.holidays.country.upper()
    if country not in supported:
        return [Problem("UnknownCountry", f'spec.holidays.country: "{spec.holidays.country}" is not a country the holidays library knows')]
    subdivision = spec.holidays.subdivision
    if subdivision and subdivision not in supported[country]:
        known = ", ".join(supported[country][:40]) or "none"
        return [
            Problem(
                "UnknownSubdivision",
                f'spec.holidays.subdivision: "{subdivision}" is not a subdivision of {country} (known: {known})',
            )
        ]
    return []


async def check_kind(field: str, api_version: str, kind: str, discovery: discovery_.Discovery) -> list[Problem]:
    try:
        resource = await discovery.find(api_version, kind)
    except discovery_.DiscoveryError as error:
        return [Problem("DiscoveryFailed", f"{field}: {error}")]
    if resource is None:
        return [Problem("KindNotServed", f'{field}: the cluster does not serve kind "{kind}" in "{api_version}"')]
    return []


def group_graph(catalog: catalog_.Catalog, namespace: str, group: str) -> dict[str, list[str]]:
    """Member task -> the tasks it depends on."""
    return {
        entry.key.name: list(entry.model.depends_on) if entry.model else []
        for entry in catalog.group_members(namespace, group)
    }


def cycle_of(graph: dict[str, list[str]]) -> tuple[set[str], str]:
    """The tasks on dependency cycles, and a message showing one cycle ("" when acyclic)."""
    members = dag.nodes_in_cycles(graph)
    if not members:
        return members, ""
    cycle = dag.find_cycle({name: deps for name, deps in graph.items() if name in members}) or []
    return members, "dependency cycle " + " -> ".join(cycle)


def check_dependencies(entry: catalog_.Entry, catalog: catalog_.Catalog) -> list[Problem]:
    spec = entry.model
    if not spec.depends_on or not spec.group:
        return []
    problems = []
    namespace = entry.key.namespace
    for index, other in enumerate(spec.depends_on):
        field = f"spec.dependsOn[{index}]"
        found = catalog.get(Key("Task", namespace, other))
        if found is None:
            problems.append(Problem("ReferenceNotFound", f'{field}: Task "{other}" not found in namespace "{namespace}"'))
        elif found.model is None or found.model.group != spec.group:
            problems.append(
                Problem(
                    "DependencyOutsideGroup",
                    f'{field}: Task "{other}" is not in group "{spec.group}"; dependsOn only links tasks of one group',
                )
            )
    members, message = cycle_of(group_graph(catalog, namespace, spec.group))
    if entry.key.name in members:
        problems.append(Problem("DependencyCycle", f"spec.dependsOn: {message}"))
    return problems


def _phase(problems: list[Problem], *, running: bool, paused: bool) -> str:
    """A run in progress shows as Running unless the object has become Invalid or Paused."""
    if problems:
        return "Invalid"
    if paused:
        return "Paused"
    return "Running" if running else "Idle"


async def _task(entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, outcome: Outcome, running: bool) -> None:
    spec = entry.model
    if spec.target is not None:
        outcome.problems += await check_kind("spec.target", spec.target.api_version, spec.target.kind, discovery)
    outcome.problems += check_dependencies(entry, catalog)
    outcome.status["phase"] = _phase(outcome.problems, running=running, paused=not catalog.task_active(entry))


async def _task_group(entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, outcome: Outcome, running: bool) -> None:
    outcome.problems += check_time_zone("spec.timeZone", entry.model.time_zone)
    graph = group_graph(catalog, entry.key.namespace, entry.key.name)
    members, message = cycle_of(graph)
    outcome.conditions.append(("Acyclic", not members, "DependencyCycle" if members else "NoCycle", message))
    if members:
        outcome.problems.append(Problem("DependencyCycle", message))
    outcome.status["graph"] = {
        "nodes": [{"name": name} for name in sorted(graph)],
        "edges": [{"from": dependency, "to": name} for name, deps in sorted(graph.items()) for dependency in deps],
    }
    outcome.status["phase"] = _phase(outcome.problems, running=running, paused=not entry.model.active)


async def _schedule(entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, outcome: Outcome, running: bool) -> None:
    outcome.problems += check_cron(entry.model.cron)
    outcome.problems += check_time_zone("spec.timeZone", entry.model.time_zone)
    outcome.problems += check_inherited(entry, catalog)


def check_inherited(entry: catalog_.Entry, catalog: catalog_.Catalog) -> list[Problem]:
    """A Schedule without its own timeZone or calendar takes its groups'; they must agree, and the calendar exist."""
    problems = []
    for field, attribute, reason in (("timeZone", "time_zone", "AmbiguousTimeZone"), ("calendar", "calendar", "AmbiguousCalendar")):
        if attribute in entry.model.model_fields_set:
            continue
        values = catalog.inherited(entry.key, attribute)
        if len(values) > 1:
            lent = "; ".join(f'{value} (TaskGroup {", ".join(groups)})' for value, groups in sorted(values.items()))
            problems.append(Problem(reason, f"spec.{field}: not set, and the groups of its tasks set different ones: {lent}; set spec.{field} here"))
        elif len(values) == 1 and attribute == "time_zone":
            [(zone, groups)] = values.items()
            problems += check_time_zone(f"spec.timeZone (inherited from TaskGroup {groups[0]})", zone)
        elif len(values) == 1 and attribute == "calendar":
            [(calendar, groups)] = values.items()
            if not catalog.exists(Key("Calendar", entry.key.namespace, calendar)):
                problems.append(Problem("ReferenceNotFound",
                                        f'spec.calendar: inherited from TaskGroup {groups[0]}: Calendar "{calendar}" not found in namespace "{entry.key.namespace}"'))
    return problems


async def _calendar(entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, outcome: Outcome, running: bool) -> None:
    outcome.problems += check_holidays(entry.model)


async def _event_trigger(entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, outcome: Outcome, running: bool) -> None:
    resource = entry.model.resource
    if resource is not None:
        outcome.problems += await check_kind("spec.resource", resource.api_version, resource.kind, discovery)


async def check_watchable(entry: catalog_.Entry, discovery: discovery_.Discovery, access: access_.Access) -> list[Problem]:
    """The operator itself must be allowed to list and watch what an EventTrigger names."""
    resource = entry.model.resource if entry.key.kind == "EventTrigger" and entry.model is not None else None
    if resource is None:
        return []
    try:
        found = await discovery.find(resource.api_version, resource.kind)
    except discovery_.DiscoveryError:
        return []
    if found is None:
        return []
    namespace = resource.namespace or entry.key.namespace
    denied = [
        verb for verb in ("list", "watch")
        if not await access.allowed(verb, group=found.group, resource=found.plural, namespace=namespace)
    ]
    if not denied:
        return []
    return [Problem("Forbidden", f'spec.resource: the operator may not {" and ".join(denied)} {found.plural} in namespace "{namespace}"; grant it in RBAC')]


async def _webhook(entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, outcome: Outcome, running: bool) -> None:
    """A Webhook's only operator-side checks are its Secrets: see check_references."""


KIND_CHECKS = {
    "Task": _task,
    "TaskGroup": _task_group,
    "Schedule": _schedule,
    "Calendar": _calendar,
    "EventTrigger": _event_trigger,
    "Webhook": _webhook,
}


async def evaluate(
    entry: catalog_.Entry, catalog: catalog_.Catalog, discovery: discovery_.Discovery, *, running: bool = False,
    access: access_.Access | None = None,
) -> Outcome:
    """Every problem of one object, and the status fields that follow from them (running: a run is in progress)."""
    outcome = Outcome()
    if entry.model is None:
        outcome.problems = spec_errors(entry.error)
        if entry.key.kind in ("Task", "TaskGroup"):
            outcome.status["phase"] = "Invalid"
        return outcome
    outcome.problems = check_references(entry, catalog)
    await KIND_CHECKS[entry.key.kind](entry, catalog, discovery, outcome, running)
    if access is not None and not outcome.problems:
        outcome.problems += await check_watchable(entry, discovery, access)
    return outcome
