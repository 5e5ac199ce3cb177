"""What only the operator can know shows as Ready=False with a reason and a message naming the problem,
and turns Ready as soon as the problem goes away."""

from __future__ import annotations

import pytest

from tests import support

SCALE_WEB = {"target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "action": {"scale": {"replicas": 0}}}


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator."""


def test_schedule_with_impossible_cron_is_not_ready(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Schedule", namespace, "every-61st-minute", {"cron": "61 * * * *"})

    ready = cluster.wait_condition("Schedule", namespace, "every-61st-minute", "False")

    assert ready["reason"] == "InvalidCron"
    assert "spec.cron" in ready["message"] and "61 * * * *" in ready["message"]


def test_schedule_on_mars_is_not_ready(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Schedule", namespace, "mars", {"cron": "@daily", "timeZone": "Mars/Olympus"})

    ready = cluster.wait_condition("Schedule", namespace, "mars", "False")

    assert ready["reason"] == "InvalidTimeZone"
    assert "spec.timeZone" in ready["message"] and "Mars/Olympus" in ready["message"]


def test_schedule_fixed_by_an_edit_turns_ready(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Schedule", namespace, "friday", {"cron": "0 18 * * 5", "timeZone": "Europe/Berln"})
    cluster.wait_condition("Schedule", namespace, "friday", "False")

    cluster.patch_spec("Schedule", namespace, "friday", {"timeZone": "Europe/Berlin"})

    ready = cluster.wait_condition("Schedule", namespace, "friday", "True")
    schedule = cluster.get("Schedule", namespace, "friday")
    assert ready["observedGeneration"] == schedule["metadata"]["generation"] == 2
    assert schedule["status"]["observedGeneration"] == 2


def test_schedule_shared_by_groups_in_different_zones_is_not_ready_until_it_sets_its_own(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Schedule", namespace, "nightly", {"cron": "0 2 * * *"})
    cluster.create("TaskGroup", namespace, "berlin", {"timeZone": "Europe/Berlin"})
    cluster.create("TaskGroup", namespace, "newyork", {"timeZone": "America/New_York"})
    for name, group in (("backup-eu", "berlin"), ("backup-us", "newyork")):
        cluster.create("Task", namespace, name, {**SCALE_WEB, "group": group, "triggers": [{"schedule": "nightly"}]})

    ready = cluster.wait_condition("Schedule", namespace, "nightly", "False")

    assert ready["reason"] == "AmbiguousTimeZone"
    assert "America/New_York (TaskGroup newyork)" in ready["message"] and "Europe/Berlin (TaskGroup berlin)" in ready["message"]

    cluster.patch_spec("Schedule", namespace, "nightly", {"timeZone": "UTC"})
    cluster.wait_condition("Schedule", namespace, "nightly", "True")


def test_calendar_of_unknown_country_is_not_ready(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Calendar", namespace, "nowhere", {"holidays": {"country": "XX"}})
    cluster.create("Calendar", namespace, "bavaria", {"holidays": {"country": "DE", "subdivision": "BY"}})
    cluster.create("Calendar", namespace, "atlantis", {"holidays": {"country": "DE", "subdivision": "ATL"}})

    nowhere = cluster.wait_condition("Calendar", namespace, "nowhere", "False")
    atlantis = cluster.wait_condition("Calendar", namespace, "atlantis", "False")
    cluster.wait_condition("Calendar", namespace, "bavaria", "True")

    assert nowhere["reason"] == "UnknownCountry" and '"XX"' in nowhere["message"]
    assert atlantis["reason"] == "UnknownSubdivision" and '"ATL"' in atlantis["message"]


@pytest.mark.parametrize(
    ("reference", "kind", "name", "spec", "field"),
    [
        ({"triggers": [{"schedule": "friday-6pm"}]}, "Schedule", "friday-6pm", {"cron": "0 18 * * 5"},
         "spec.triggers[0].schedule"),
        ({"triggers": [{"event": "session-created"}]}, "EventTrigger", "session-created",
         {"resource": {"apiVersion": "v1", "kind": "ConfigMap"}, "events": ["Created"]}, "spec.triggers[0].event"),
        ({"group": "render-farm"}, "TaskGroup", "render-farm", {}, "spec.group"),
        ({"notify": {"onFailure": [{"webhookRef": "slack"}]}}, "Webhook", "slack", {"url": "https://hooks.example.invalid/x"},
         "spec.notify.onFailure[0].webhookRef"),
    ],
    ids=["schedule", "event", "group", "webhook"],
)
def test_task_waits_for_its_reference_then_turns_ready(
    cluster: support.Cluster, namespace: str, reference: dict, kind: str, name: str, spec: dict, field: str
) -> None:
    cluster.create("Task", namespace, "power-off", {**SCALE_WEB, **reference})

    waiting = cluster.wait_condition("Task", namespace, "power-off", "False")
    assert waiting["reason"] == "ReferenceNotFound"
    assert field in waiting["message"] and f"{kind} " in waiting["message"]
    assert cluster.get("Task", namespace, "power-off")["status"]["phase"] == "Invalid"

    cluster.create(kind, namespace, name, spec)

    cluster.wait_condition("Task", namespace, "power-off", "True", timeout=10)
    assert cluster.get("Task", namespace, "power-off")["status"]["phase"] == "Idle"

    cluster.delete(kind, namespace, name)
    gone = cluster.wait_condition("Task", namespace, "power-off", "False", timeout=10)
    assert gone["reason"] == "ReferenceNotFound"


def test_webhook_waits_for_its_secret_and_key(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Webhook", namespace, "slack", {
        "url": "https://hooks.example.invalid/x",
        "auth": {"type": "Bearer", "secretRef": {"name": "slack-token"}},
        "signing": {"secretRef": {"name": "slack-signing", "key": "secret"}},
    })
    missing = cluster.wait_condition("Webhook", namespace, "slack", "False")
    assert 'spec.auth.secretRef: Secret "slack-token" not found' in missing["message"]

    cluster.create_secret(namespace, "slack-token", {"token": "xoxb-not-a-real-token"})
    cluster.create_secret(namespace, "slack-signing", {"other": "x"})
    wrong_key = support.wait_for(
        lambda: (c := cluster.condition("Webhook", namespace, "slack")) and c["reason"] == "SecretKeyNotFound" and c,
        "the missing key to be reported",
    )
    assert 'spec.signing.secretRef: Secret "slack-signing" has no key "secret"' in wrong_key["message"]

    cluster.core.patch_namespaced_secret("slack-signing", namespace, {"stringData": {"secret": "whsec"}})
    cluster.wait_condition("Webhook", namespace, "slack", "True", timeout=10)


def test_target_kind_the_cluster_does_not_serve(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("Task", namespace, "ghost", {
        "target": {"apiVersion": "apps/v1", "kind": "Deploymnet", "name": "web"}, "action": {"restart": {}},
    })
    cluster.create("EventTrigger", namespace, "ghost", {"resource": {"apiVersion": "example.com/v1", "kind": "Gizmo"}})

    task = cluster.wait_condition("Task", namespace, "ghost", "False")
    trigger = cluster.wait_condition("EventTrigger", namespace, "ghost", "False")

    assert task["reason"] == "KindNotServed" and '"Deploymnet"' in task["message"] and "spec.target" in task["message"]
    assert trigger["reason"] == "KindNotServed" and '"Gizmo"' in trigger["message"]


def test_watched_kind_installed_later_turns_ready_without_restart(cluster: support.Cluster, namespace: str) -> None:
    group = f"{support.unique('g')}.example.com"
    cluster.create("EventTrigger", namespace, "sessions", {"resource": {"apiVersion": f"{group}/v1", "kind": "Session"}})
    cluster.wait_condition("EventTrigger", namespace, "sessions", "False")

    extensions = support.kubernetes.client.ApiextensionsV1Api(cluster.api)
    extensions.create_custom_resource_definition({
        "metadata": {"name": f"sessions.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": "Session", "plural": "sessions", "singular": "session"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    })
    try:
        cluster.wait_condition("EventTrigger", namespace, "sessions", "True", timeout=20)
    finally:
        extensions.delete_custom_resource_definition(f"sessions.{group}")


def test_dependency_cycle_is_reported_on_tasks_and_group(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("TaskGroup", namespace, "nightly", {})
    cluster.create("Task", namespace, "backup", {**SCALE_WEB, "group": "nightly", "dependsOn": ["verify"]})
    cluster.create("Task", namespace, "verify", {**SCALE_WEB, "group": "nightly", "dependsOn": ["backup"]})
    cluster.create("Task", namespace, "report", {**SCALE_WEB, "group": "nightly", "dependsOn": ["verify"]})

    backup = cluster.wait_condition("Task", namespace, "backup", "False")
    verify = cluster.wait_condition("Task", namespace, "verify", "False")
    acyclic = cluster.wait_condition("TaskGroup", namespace, "nightly", "False", type_="Acyclic")

    for condition in (backup, verify, acyclic):
        assert condition["reason"] == "DependencyCycle"
        assert "backup -> verify -> backup" in condition["message"]
    # report depends on the cycle but is not part of it
    assert cluster.condition("Task", namespace, "report")["status"] == "True"

    cluster.patch_spec("Task", namespace, "backup", {"dependsOn": []})

    cluster.wait_condition("TaskGroup", namespace, "nightly", "True", type_="Acyclic", timeout=10)
    cluster.wait_condition("Task", namespace, "verify", "True", timeout=10)
    graph = cluster.get("TaskGroup", namespace, "nightly")["status"]["graph"]
    assert sorted(node["name"] for node in graph["nodes"]) == ["backup", "report", "verify"]
    assert {(edge["from"], edge["to"]) for edge in graph["edges"]} == {("backup", "verify"), ("verify", "report")}


def test_dependency_on_a_task_outside_the_group(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("TaskGroup", namespace, "nightly", {})
    cluster.create("Task", namespace, "loner", SCALE_WEB)
    cluster.create("Task", namespace, "member", {**SCALE_WEB, "group": "nightly", "dependsOn": ["loner"]})

    member = cluster.wait_condition("Task", namespace, "member", "False")

    assert member["reason"] == "DependencyOutsideGroup"
    assert 'spec.dependsOn[0]: Task "loner" is not in group "nightly"' in member["message"]

    cluster.patch_spec("Task", namespace, "loner", {"group": "nightly"})
    cluster.wait_condition("Task", namespace, "member", "True", timeout=10)


def test_paused_task_and_inactive_group(cluster: support.Cluster, namespace: str) -> None:
    cluster.create("TaskGroup", namespace, "farm", {"active": False})
    cluster.create("Task", namespace, "off", {**SCALE_WEB, "enabled": False})
    cluster.create("Task", namespace, "frozen", {**SCALE_WEB, "group": "farm"})

    cluster.wait_condition("Task", namespace, "off", "True")
    cluster.wait_condition("Task", namespace, "frozen", "True")
    assert cluster.get("Task", namespace, "off")["status"]["phase"] == "Paused"
    assert cluster.get("Task", namespace, "frozen")["status"]["phase"] == "Paused"

    cluster.patch_spec("TaskGroup", namespace, "farm", {"active": True})
    support.wait_for(lambda: cluster.get("Task", namespace, "frozen")["status"]["phase"] == "Idle", "the task to thaw")


def test_operator_never_writes_spec(cluster: support.Cluster, namespace: str) -> None:
    spec = {**SCALE_WEB, "triggers": [{"schedule": "missing"}]}
    cluster.create("Task", namespace, "untouched", spec)
    cluster.wait_condition("Task", namespace, "untouched", "False")

    task = cluster.get("Task", namespace, "untouched")

    assert task["spec"] == spec
    assert task["metadata"]["generation"] == 1
    assert not task["metadata"].get("finalizers")
    assert not any(key.startswith("kopf.zalando.org") for key in task["metadata"].get("annotations", {}))
