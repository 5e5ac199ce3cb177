"""Invalid manifests are refused by the API server at apply time, with the field named."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest

from tests import support

SCALE = {"target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "action": {"scale": {"replicas": 0}}}


def task(**changes: Any) -> dict[str, Any]:
    return {**SCALE, **changes}


ROWS = [
    pytest.param(
        "Task",
        task(target={"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "selector": {"matchLabels": {"a": "b"}}}),
        "spec.target", "exactly one of name or selector",
        id="target-with-name-and-selector",
    ),
    pytest.param("Task", task(action={}), "spec.action", "exactly one of scale, patch", id="action-without-key"),
    pytest.param(
        "Task", task(action={"scale": {"replicas": 0}, "restart": {}}), "spec.action", "exactly one of scale, patch",
        id="action-with-two-keys",
    ),
    pytest.param("Task", task(timeoutSeconds=0), "spec.timeoutSeconds", "greater than or equal to 1", id="task-timeout-zero"),
    pytest.param("Task", task(runIf="Maybe"), "spec.runIf", "Unsupported value", id="runif-maybe"),
    pytest.param("Task", task(retries={"limit": -1}), "spec.retries.limit", "greater than or equal to 0", id="retries-negative"),
    pytest.param(
        "Task", task(concurrencyPolicy="Sometimes"), "spec.concurrencyPolicy", "Unsupported value", id="concurrency-sometimes"
    ),
    pytest.param(
        "Task", {"action": {"restart": {}}}, "spec.target", "target is required", id="restart-without-target"
    ),
    pytest.param("Task", task(dependsOn=["other"]), "spec.dependsOn", "only allowed inside a group", id="dependson-without-group"),
    pytest.param(
        "Webhook", {"url": "https://example.invalid/hook", "timeoutSeconds": 2}, "spec.timeoutSeconds",
        "greater than or equal to 3", id="webhook-timeout-2",
    ),
    pytest.param("Webhook", {"url": "not-a-url"}, "spec.url", "absolute http:// or https:// URL", id="webhook-url-not-a-url"),
    pytest.param(
        "Webhook", {"url": "https://example.invalid/hook", "auth": {"type": "Bearer"}}, "spec.auth.secretRef",
        "secretRef is required", id="webhook-bearer-without-secret",
    ),
    pytest.param(
        "Schedule", {"cron": "0 18 * * 5", "every": {"unit": "Days"}}, "spec", "exactly one of cron, every or at",
        id="schedule-cron-and-every",
    ),
    pytest.param("Schedule", {"timeZone": "UTC"}, "spec", "exactly one of cron, every or at", id="schedule-without-when"),
    pytest.param(
        "Schedule", {"every": {"interval": 0, "unit": "Days"}}, "spec.every.interval", "greater than or equal to 1",
        id="every-interval-zero",
    ),
    pytest.param("Schedule", {"every": {"unit": "Fortnights"}}, "spec.every.unit", "Unsupported value", id="every-fortnights"),
    pytest.param("Schedule", {"at": "tomorrow"}, "spec.at", "should match", id="at-tomorrow"),
    pytest.param(
        "Schedule", {"cron": "@daily", "window": {"start": "25:00", "end": "17:00"}}, "spec.window.start", "should match",
        id="window-start-25h",
    ),
    pytest.param("Schedule", {"cron": "0 18 * *"}, "spec.cron", "should match", id="cron-four-fields"),
    pytest.param(
        "EventTrigger",
        {"resource": {"apiVersion": "v1", "kind": "ConfigMap"}, "webhook": {"secretRef": {"name": "token"}}},
        "spec", "exactly one of resource or webhook", id="trigger-resource-and-webhook",
    ),
    pytest.param(
        "EventTrigger", {"resource": {"apiVersion": "v1", "kind": "ConfigMap"}, "events": ["Exploded"]},
        "spec.events[0]", "Unsupported value", id="events-exploded",
    ),
    pytest.param(
        "EventTrigger",
        {"resource": {"apiVersion": "v1", "kind": "Pod"}, "when": [{"fieldPath": ".status.phase"}]},
        "spec.when[0]", "exactly one of equals, in or changed", id="when-without-comparison",
    ),
    pytest.param("Calendar", {"dates": ["2026-13-01"]}, "spec.dates[0]", "should match", id="calendar-date-month-13"),
]


@pytest.mark.parametrize(("kind", "spec", "field", "problem"), ROWS)
def test_invalid_manifest_is_refused_naming_the_field(
    cluster: support.Cluster, namespace: str, kind: str, spec: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(kubernetes.client.ApiException) as refused:
        cluster.create(kind, namespace, "bad", spec)

    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert f"{field}:" in message, message
    assert problem in message, message
    with pytest.raises(kubernetes.client.ApiException) as missing:
        cluster.get(kind, namespace, "bad")
    assert missing.value.status == 404


def test_valid_manifest_of_every_kind_is_accepted(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Task", namespace, "ok", task(triggers=[{"schedule": "s"}], notify={"onFailure": [{"webhookRef": "w"}]}))
    cluster.create("Schedule", namespace, "ok", {"every": {"interval": 2, "unit": "Weeks", "daysOfWeek": ["Friday"], "at": "18:00"}})
    cluster.create("Schedule", namespace, "once", {"at": "2026-12-24T17:00:00", "timeZone": "Europe/Berlin"})
    cluster.create("Calendar", namespace, "ok", {"holidays": {"country": "DE", "subdivision": "BY"}, "dates": ["2026-12-24"]})
    cluster.create("EventTrigger", namespace, "ok", {
        "resource": {"apiVersion": "batch/v1", "kind": "Job", "selector": {"matchLabels": {"app": "sync"}}},
        "events": ["Updated"],
        "when": [{"condition": {"type": "Failed"}}, {"fieldPath": ".metadata.labels.team", "in": ["a", "b"]}],
        "for": "5m",
    })
    cluster.create("Webhook", namespace, "ok", {"url": "https://hooks.example.invalid/x", "auth": {"type": "Bearer", "secretRef": {"name": "t"}}})
    cluster.create("TaskGroup", namespace, "ok", {"timeZone": "Europe/Berlin", "failFast": True})

    assert cluster.get("Task", namespace, "ok")["spec"]["action"] == {"scale": {"replicas": 0}}
