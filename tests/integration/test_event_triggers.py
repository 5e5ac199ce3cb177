"""EventTriggers: changes to objects of any kind run Tasks, once per transition."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import kubernetes
import pytest

from tests import support
from tests.receivers import Receiver, SmtpServer

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "examples"


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator."""


def apply(cluster: support.Cluster, namespace: str, example: str) -> None:
    subprocess.run([cluster.tool("kubectl"), f"--kubeconfig={cluster.kubeconfig}", "apply", "-n", namespace, "-f", str(EXAMPLES / example)],
                   check=True, capture_output=True)


def config_map(cluster: support.Cluster, namespace: str, name: str, data: dict, labels: dict | None = None) -> None:
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels or {}}, "data": data})


def hook_task(cluster: support.Cluster, namespace: str, name: str, url: str, trigger: str, payload: str) -> None:
    cluster.create("Webhook", namespace, name, {"url": url, "retries": 0})
    cluster.create("Task", namespace, name, {"action": {"webhook": {"webhookRef": name, "payload": payload}}, "triggers": [{"event": trigger}]})
    cluster.wait_condition("Task", namespace, name, "True")


def test_gpu_workstations_follow_the_users_session(cluster: support.Cluster, namespace: str) -> None:
    apply(cluster, namespace, "gpu-workstations.yaml")
    for name in ("jthompson-session-started", "jthompson-session-ended"):
        cluster.wait_condition("EventTrigger", namespace, name, "True")
    time.sleep(1)  # the watch lists before it fires

    config_map(cluster, namespace, "session-42", {"user": "jthompson"}, {"taskengine.example/session": "jthompson"})

    support.wait_for(lambda: cluster.replicas(namespace, "ws-01") == 1 and cluster.replicas(namespace, "ws-02") == 1, "the workstations to start")
    [started] = cluster.tasklogs(namespace, "power-on-workstations")
    assert started["spec"]["trigger"]["type"] == "Event"
    assert started["spec"]["trigger"]["name"] == "jthompson-session-started"
    assert started["spec"]["trigger"]["event"]["type"] == "Created"
    assert started["spec"]["trigger"]["event"]["object"]["name"] == "session-42"

    cluster.core.delete_namespaced_config_map("session-42", namespace)

    support.wait_for(lambda: cluster.replicas(namespace, "ws-01") == 0 and cluster.replicas(namespace, "ws-02") == 0, "the workstations to stop")
    assert cluster.get("EventTrigger", namespace, "jthompson-session-ended")["status"]["triggerCount"] == 1


def test_failed_sync_job_posts_to_slack_and_sends_mail(cluster: support.Cluster, namespace: str, receiver: Receiver, smtp: SmtpServer) -> None:
    apply(cluster, namespace, "sync-error-alert.yaml")
    cluster.objects.patch_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "webhooks", "slack", {"spec": {"url": receiver.url + "/slack"}})
    cluster.core.patch_namespaced_secret("smtp", namespace, {"stringData": {"port": str(smtp.port)}})
    cluster.wait_condition("EventTrigger", namespace, "sync-job-failed", "True")
    time.sleep(1)
    batch = kubernetes.client.BatchV1Api(cluster.api)
    batch.create_namespaced_job(namespace, {
        "metadata": {"name": "sync-orders", "labels": {"app": "sync"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "sync", "image": "registry.example/sync:1"}]}}},
    })
    support.wait_for(lambda: batch.read_namespaced_job_status("sync-orders", namespace).status.start_time, "the job controller")

    support.finish_job(batch, namespace, "sync-orders", "Failed")  # no kubelet here: the test plays it

    support.wait_for(lambda: receiver.requests and smtp.mails, "the alert and the mail", timeout=20)
    [post] = receiver.requests
    assert post.headers["authorization"] == "Bearer replace-me-with-a-real-token"
    assert json.loads(post.body)["text"].startswith("Sync error: sync-orders failed at ")
    [mail] = smtp.mails
    assert mail.subject == "Sync error: sync-orders"
    assert f"The sync Job {namespace}/sync-orders failed" in mail.body
    batch.patch_namespaced_job("sync-orders", namespace, {"metadata": {"labels": {"seen": "yes"}}})
    time.sleep(2)
    assert len(receiver.requests) == 1  # still failed: one alert per failure


def test_updates_fire_on_the_transition_into_the_state(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("EventTrigger", namespace, "broken", {
        "resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "service-config"},
        "events": ["Updated"], "when": [{"fieldPath": ".data.state", "equals": "broken"}],
    })
    hook_task(cluster, namespace, "page", receiver.url, "broken", '{"cm": "${NAME}", "state": "${object.data.state}"}')
    cluster.wait_condition("EventTrigger", namespace, "broken", "True")
    config_map(cluster, namespace, "service-config", {"state": "ok"})
    time.sleep(1)

    def state(**data: str) -> None:
        cluster.core.patch_namespaced_config_map("service-config", namespace, {"data": data})
        time.sleep(1)

    state(state="broken")
    state(note="still broken")
    state(state="ok")
    state(state="broken")

    support.wait_for(lambda: len(receiver.requests) >= 2, "two alerts")
    time.sleep(1)
    assert [json.loads(r.body) for r in receiver.requests] == [{"cm": "service-config", "state": "broken"}] * 2


def test_objects_present_before_the_trigger_do_not_fire_created(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    config_map(cluster, namespace, "old", {}, {"watch": "me"})
    cluster.create("EventTrigger", namespace, "new-config", {
        "resource": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"watch": "me"}}}, "events": ["Created"],
    })
    hook_task(cluster, namespace, "hello", receiver.url, "new-config", '{"cm": "${NAME}"}')
    cluster.wait_condition("EventTrigger", namespace, "new-config", "True")
    time.sleep(1.5)

    config_map(cluster, namespace, "new", {}, {"watch": "me"})
    config_map(cluster, namespace, "unlabelled", {})

    support.wait_for(lambda: receiver.requests, "the alert")
    time.sleep(1)
    assert [json.loads(r.body) for r in receiver.requests] == [{"cm": "new"}]


def test_one_trigger_runs_every_task_that_lists_it(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("EventTrigger", namespace, "any-secret", {"resource": {"apiVersion": "v1", "kind": "Secret"}, "events": ["Created"]})
    hook_task(cluster, namespace, "first", receiver.url + "/first", "any-secret", '{"s": "${NAME}"}')
    hook_task(cluster, namespace, "second", receiver.url + "/second", "any-secret", '{"s": "${NAME}"}')
    cluster.wait_condition("EventTrigger", namespace, "any-secret", "True")
    time.sleep(1.5)

    cluster.create_secret(namespace, "fresh", {"k": "v"})

    support.wait_for(lambda: len(receiver.requests) >= 2, "both tasks")
    assert sorted(r.path for r in receiver.requests) == ["/first", "/second"]


def test_for_fires_only_when_the_state_has_held_long_enough(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("EventTrigger", namespace, "stuck", {
        "resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "service-config"},
        "events": ["Updated"], "when": [{"fieldPath": ".data.state", "equals": "broken"}], "for": "3s",
    })
    hook_task(cluster, namespace, "page", receiver.url, "stuck", '{"cm": "${NAME}"}')
    cluster.wait_condition("EventTrigger", namespace, "stuck", "True")
    config_map(cluster, namespace, "service-config", {"state": "ok"})
    time.sleep(1)

    cluster.core.patch_namespaced_config_map("service-config", namespace, {"data": {"state": "broken"}})
    time.sleep(1)
    cluster.core.patch_namespaced_config_map("service-config", namespace, {"data": {"state": "ok"}})  # a blip
    time.sleep(4)
    assert receiver.requests == []

    cluster.core.patch_namespaced_config_map("service-config", namespace, {"data": {"state": "broken"}})
    broke = time.monotonic()
    support.wait_for(lambda: receiver.requests, "the alert after 3 s", timeout=15)
    assert time.monotonic() - broke >= 2.5
    time.sleep(1)
    assert len(receiver.requests) == 1


def test_changes_made_while_the_operator_was_down_fire_once_after_restart(cluster: support.Cluster, isolated, receiver: Receiver) -> None:
    namespace, own = isolated
    cluster.create("EventTrigger", namespace, "new-config", {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"watch": "me"}}}, "events": ["Created"]})
    hook_task(cluster, namespace, "hello", receiver.url, "new-config", '{"cm": "${NAME}"}')
    config_map(cluster, namespace, "before", {}, {"watch": "me"})
    support.wait_for(lambda: receiver.requests, "the first alert")
    support.wait_for(lambda: cluster.get("EventTrigger", namespace, "new-config").get("status", {}).get("resourceVersion"), "the watch position to be saved")
    time.sleep(2.5)  # let the position after "before" be saved too
    own.kill()

    config_map(cluster, namespace, "while-down", {}, {"watch": "me"})
    own.start()

    support.wait_for(lambda: len(receiver.requests) >= 2, "the missed change to fire", timeout=30)
    time.sleep(2)
    assert sorted(json.loads(r.body)["cm"] for r in receiver.requests) == ["before", "while-down"]
    assert len(cluster.tasklogs(namespace, "hello")) == 2


def pod_template(cluster: support.Cluster, namespace: str, name: str, labels: dict[str, str]) -> None:
    cluster.core.create_namespaced_pod_template(namespace, {
        "metadata": {"name": name, "labels": labels}, "template": {"spec": {"containers": [{"name": "c", "image": "registry.example/c:1"}]}},
    })


@pytest.mark.operator_env(TASKENGINE_WATCH_TIMEOUT_SECONDS="2")
def test_an_expired_watch_lists_again_without_losing_or_inventing_events(cluster: support.Cluster, isolated, receiver: Receiver) -> None:
    """While the watch is away, objects are created, changed and deleted and etcd compacts that history away.

    Coming back, the watch gets 410 Gone; the operator lists again and turns the difference into
    exactly the events that happened: one Created, one Updated, one Deleted, nothing for the rest.
    """
    if cluster.plane is None:
        pytest.skip("needs etcd of the test's own control plane to compact (not available with TASKENGINE_TEST_KUBECONFIG)")
    namespace, own = isolated
    tagged = {"team": "web"}
    cluster.create("EventTrigger", namespace, "templates", {
        "resource": {"apiVersion": "v1", "kind": "PodTemplate", "selector": {"matchLabels": tagged}}, "events": ["Created", "Updated", "Deleted"],
    })
    hook_task(cluster, namespace, "note", receiver.url, "templates", '{"name": "${NAME}", "event": "${EVENT}"}')
    cluster.wait_condition("EventTrigger", namespace, "templates", "True")
    for name in ("kept", "edited", "removed"):
        pod_template(cluster, namespace, name, tagged)
    support.wait_for(lambda: len(receiver.requests) == 3, "the three Created while watching")
    receiver.requests.clear()

    own.pause()
    time.sleep(3)  # the watch request (2 s) ends on the server's side while the operator is frozen
    pod_template(cluster, namespace, "added", tagged)
    pod_template(cluster, namespace, "untagged", {"team": "db"})
    cluster.core.patch_namespaced_pod_template("edited", namespace, {"metadata": {"annotations": {"owner": "alice"}}})
    cluster.core.delete_namespaced_pod_template("removed", namespace)
    cluster.plane.compact()
    own.resume()

    support.wait_for(lambda: len(receiver.requests) >= 3, "the changes made while away to fire")
    time.sleep(3)  # a few more watch renewals: nothing more may come
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert sorted((body["name"], body["event"]) for body in bodies) == [
        ("added", "Created"), ("edited", "Updated"), ("removed", "Deleted"),
    ]
    assert "expired (410); listing again" in own.text()  # the re-list, not the plain watch, delivered them
    [deleted] = [log for log in cluster.tasklogs(namespace, "note") if log["spec"]["trigger"]["event"]["type"] == "Deleted"]
    assert deleted["spec"]["trigger"]["event"]["object"]["name"] == "removed"


def test_kubernetes_events_are_just_another_kind(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("EventTrigger", namespace, "crashloop", {
        "resource": {"apiVersion": "v1", "kind": "Event"}, "events": ["Created"],
        "when": [{"fieldPath": ".reason", "equals": "BackOff"}, {"fieldPath": ".involvedObject.kind", "equals": "Pod"}],
    })
    hook_task(cluster, namespace, "crash-alert", receiver.url, "crashloop", '{"pod": "${object.involvedObject.name}", "why": "${object.message}"}')
    cluster.wait_condition("EventTrigger", namespace, "crashloop", "True")
    time.sleep(1.5)

    def event(name: str, reason: str) -> None:  # what a kubelet would post
        cluster.core.create_namespaced_event(namespace, {
            "metadata": {"name": name}, "reason": reason, "message": "Back-off restarting failed container", "type": "Warning",
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": namespace}, "source": {"component": "kubelet"},
        })

    event("web-1.pulled", "Pulled")
    event("web-1.backoff", "BackOff")

    support.wait_for(lambda: receiver.requests, "the alert")
    time.sleep(1)
    assert [json.loads(r.body) for r in receiver.requests] == [{"pod": "web-1", "why": "Back-off restarting failed container"}]


def test_simulate_shows_what_would_run_without_running_it(cluster: support.Cluster, namespace: str, tmp_path: pathlib.Path) -> None:
    apply(cluster, namespace, "sync-error-alert.yaml")
    cluster.wait_condition("Task", namespace, "sync-error-email", "True")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sync-orders", "labels": {"app": "sync"}},
           "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    failed = tmp_path / "failed.yaml"
    failed.write_text(json.dumps(job))
    running = tmp_path / "running.yaml"
    running.write_text(json.dumps({**job, "status": {}}))

    shown = support.run_cli(cluster, "simulate", "-f", str(failed), "-n", namespace, "--event", "Updated")
    quiet = support.run_cli(cluster, "simulate", "-f", str(running), "-n", namespace, "--event", "Updated")

    assert shown.returncode == 0, shown.stderr
    assert f"EventTrigger {namespace}/sync-job-failed: Updated Job {namespace}/sync-orders fires" in shown.stdout
    assert "would run Task sync-error-slack: webhook slack" in shown.stdout
    assert '{"text": "Sync error: sync-orders failed at ' in shown.stdout
    assert "Subject: Sync error: sync-orders" in shown.stdout
    assert "`when` does not hold" in quiet.stdout and "would run" not in quiet.stdout
    assert cluster.tasklogs(namespace, "sync-error-slack") == []


def test_trigger_on_a_kind_the_operator_may_not_watch_is_not_ready(cluster: support.Cluster, tmp_path: pathlib.Path) -> None:
    """An operator whose own RBAC lacks ConfigMaps says so on the trigger, instead of failing quietly."""
    from tests.conftest import Operator

    namespace = support.unique("iso")
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    role = support.unique("limited-operator")
    try:
        cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "operator"}})
        rbac.create_cluster_role({"metadata": {"name": role}, "rules": [
            {"apiGroups": ["taskengine.io"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list", "watch"]},
        ]})
        rbac.create_cluster_role_binding({
            "metadata": {"name": role}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}],
        })
        kubeconfig = cluster.kubeconfig_as(namespace, "operator", tmp_path / "limited.kubeconfig")
        own = Operator(kubeconfig, tmp_path / "operator.log", [namespace])
        own.start()
        try:
            cluster.create("EventTrigger", namespace, "config-changed", {"resource": {"apiVersion": "v1", "kind": "ConfigMap"}})

            ready = cluster.wait_condition("EventTrigger", namespace, "config-changed", "False")

            assert ready["reason"] == "Forbidden"
            assert f'may not list and watch configmaps in namespace "{namespace}"' in ready["message"]
        finally:
            own.stop()
    finally:
        rbac.delete_cluster_role_binding(role)
        rbac.delete_cluster_role(role)
        cluster.core.delete_namespace(namespace)
