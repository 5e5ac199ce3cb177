"""`taskengine simulate`: which EventTriggers an object matches, which Tasks would run, with what payloads.

Runs nothing: it reads the triggers and tasks, evaluates `when` as the operator would for the
chosen event, and renders the templates with the object's variables.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import kubernetes
import pydantic

from taskengine import variables
from taskengine.api import common, eventtrigger, task as task_api
from taskengine.triggers import matching


@dataclasses.dataclass
class Rendering:
    task: str
    action: str
    text: str  # the rendered payload / mail, or the error


@dataclasses.dataclass
class Match:
    namespace: str
    trigger: str
    fires: bool
    reason: str
    runs: list[Rendering]


def selected(spec: eventtrigger.EventTriggerSpec, trigger_namespace: str, obj: dict[str, Any]) -> bool:
    resource = spec.resource
    metadata = obj.get("metadata", {})
    if resource is None or resource.api_version != obj.get("apiVersion") or resource.kind != obj.get("kind"):
        return False
    if (resource.namespace or trigger_namespace) != metadata.get("namespace", trigger_namespace):
        return False
    if resource.name and resource.name != metadata.get("name"):
        return False
    return resource.selector is None or resource.selector.matches(metadata.get("labels") or {})


def render(task_name: str, spec: task_api.TaskSpec, scope: variables.Variables) -> Rendering:
    action = spec.action
    try:
        if action.webhook:
            text = variables.expand(action.webhook.payload, scope, json_escape=variables.looks_like_json(action.webhook.payload)) if action.webhook.payload else "(the default JSON payload)"
            return Rendering(task_name, f"webhook {action.webhook.webhook_ref}", text)
        if action.email:
            subject = variables.expand(action.email.subject, scope)
            body = variables.expand(action.email.body, scope)
            return Rendering(task_name, f"email to {', '.join(action.email.to)}", f"Subject: {subject}\n\n{body}")
        if action.create:
            return Rendering(task_name, "create", str(variables.expand_all(action.create.manifest, scope)))
        if action.patch:
            return Rendering(task_name, f"patch ({action.patch.type})", str(variables.expand_all(action.patch.patch, scope)))
        return Rendering(task_name, action.kind, "(no template)")
    except variables.UnknownVariable as error:
        return Rendering(task_name, action.kind, f"ERROR: {error}")


def simulate(api: kubernetes.client.ApiClient, obj: dict[str, Any], event: str) -> list[Match]:
    objects = kubernetes.client.CustomObjectsApi(api)
    triggers = objects.list_cluster_custom_object(common.GROUP, common.VERSION, "eventtriggers")["items"]
    tasks = objects.list_cluster_custom_object(common.GROUP, common.VERSION, "tasks")["items"]
    matches = []
    for item in triggers:
        namespace, name = item["metadata"]["namespace"], item["metadata"]["name"]
        try:
            spec = eventtrigger.EventTriggerSpec.model_validate(item.get("spec") or {})
        except pydantic.ValidationError:
            continue
        if not selected(spec, namespace, obj):
            continue
        fires = matching.fires(event, obj, None, spec)
        reason = "fires" if fires else (f"{event} is not among {spec.events}" if event not in spec.events else "`when` does not hold")
        runs = []
        for task in tasks:
            if task["metadata"]["namespace"] != namespace:
                continue
            try:
                task_spec = task_api.TaskSpec.model_validate(task.get("spec") or {})
            except pydantic.ValidationError:
                continue
            if not any(trigger.event == name for trigger in task_spec.triggers):
                continue
            scope = variables.Variables(
                now=datetime.datetime.now(datetime.timezone.utc), task=task["metadata"]["name"], run="(simulated)",
                trigger=name, event=event, params=dict(task_spec.params),
            ).with_target(obj)
            runs.append(render(task["metadata"]["name"], task_spec, scope))
        matches.append(Match(namespace, name, fires, reason, runs))
    return matches
