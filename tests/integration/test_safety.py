"""Tenants cannot borrow the operator's rights, a killed operator leaves no run Running for ever,
and secrets never leak into TaskLogs, status, Events or the operator's log."""

from __future__ import annotations

import json

from tests import support
from tests.conftest import Operator
from tests.receivers import Receiver, Reply

SCALE = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "patch"]}]


def scale_task(namespace: str, *, target_namespace: str | None = None) -> dict:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    if target_namespace:
        target["namespace"] = target_namespace
    return {"serviceAccountName": "tenant", "target": target, "action": {"scale": {"replicas": 0}}}


def test_actions_run_as_the_tasks_service_account(cluster: support.Cluster, namespace: str, operator) -> None:
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "tenant"}})
    cluster.deployment(namespace, "web", replicas=2)
    cluster.create("Task", namespace, "scale-web", scale_task(namespace))
    cluster.wait_condition("Task", namespace, "scale-web", "True")

    refused, name = cluster.run(namespace, "scale-web")

    assert refused.returncode == 1
    message = cluster.tasklog(namespace, name)["status"]["message"]
    assert f'User "system:serviceaccount:{namespace}:tenant" cannot get resource "deployments"' in message
    assert cluster.replicas(namespace, "web") == 2

    cluster.grant(namespace, "tenant", SCALE)
    allowed, _ = cluster.run(namespace, "scale-web")

    assert allowed.returncode == 0, allowed.stdout
    assert cluster.replicas(namespace, "web") == 0


def test_a_task_cannot_touch_another_namespace_without_a_binding_there(cluster: support.Cluster, namespace: str, operator) -> None:
    other = support.unique(support.NAMESPACE_PREFIX)
    cluster.core.create_namespace({"metadata": {"name": other}})
    try:
        cluster.deployment(other, "web", replicas=2)
        cluster.grant(namespace, "tenant", SCALE)  # rights at home only
        cluster.create("Task", namespace, "reach-over", scale_task(namespace, target_namespace=other))
        cluster.wait_condition("Task", namespace, "reach-over", "True")

        refused, name = cluster.run(namespace, "reach-over")

        assert refused.returncode == 1
        assert f'in the namespace "{other}"' in cluster.tasklog(namespace, name)["status"]["message"]
        assert cluster.replicas(other, "web") == 2

        cluster.grant(other, "tenant", SCALE, account_namespace=namespace)
        allowed, _ = cluster.run(namespace, "reach-over")

        assert allowed.returncode == 0, allowed.stdout
        assert cluster.replicas(other, "web") == 0
    finally:
        cluster.core.delete_namespace(other)


def test_killed_operator_leaves_no_run_running(cluster: support.Cluster, isolated: tuple[str, Operator], receiver: Receiver) -> None:
    namespace, own = isolated
    receiver.reply(Reply(delay=30))
    cluster.create("Webhook", namespace, "slow", {"url": receiver.url, "timeoutSeconds": 60})
    cluster.create("Task", namespace, "long", {"action": {"webhook": {"webhookRef": "slow"}}})
    cluster.wait_condition("Task", namespace, "long", "True")
    _, name = cluster.run(namespace, "long", wait=False)
    cluster.wait_phase(namespace, name, "Running")
    support.wait_for(lambda: cluster.get("Task", namespace, "long")["status"].get("phase") == "Running", "the Task to show Running")

    own.kill()
    assert cluster.tasklog(namespace, name)["status"]["phase"] == "Running"
    own.start()

    status = cluster.wait_phase(namespace, name, *support.FINISHED)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "OperatorRestarted"
    assert "Running" in status["message"]
    support.wait_for(lambda: cluster.get("Task", namespace, "long")["status"].get("phase") == "Idle", "the Task to be Idle again")
    assert cluster.get("Task", namespace, "long")["status"]["lastRun"]["phase"] == "Failed"
    assert len(receiver.requests) == 1  # not run again behind the user's back


def test_secrets_never_leak(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    token = "tok-" + support.unique("s3cr3t")
    receiver.echo_headers = True  # a careless receiver that reflects the Authorization header
    receiver.reply(Reply(500, "upstream error"), Reply(200, "fine"))
    cluster.create_secret(namespace, "hook-token", {"token": token})
    cluster.create("Webhook", namespace, "echo", {"url": receiver.url, "auth": {"type": "Bearer", "secretRef": {"name": "hook-token"}}, "retries": 2})
    cluster.create("Task", namespace, "leaky", {
        "action": {"webhook": {"webhookRef": "echo"}},
        "notify": {"onSuccess": [{"webhookRef": "echo"}]},
    })
    cluster.wait_condition("Task", namespace, "leaky", "True")

    result, name = cluster.run(namespace, "leaky")

    assert result.returncode == 0, result.stdout
    assert receiver.requests[0].headers["authorization"] == f"Bearer {token}"  # it was used...
    log = cluster.tasklog(namespace, name)
    assert "[REDACTED]" in log["status"]["output"]  # ...and hidden where it was echoed back
    support.wait_for(lambda: len(cluster.events(namespace, "leaky")) >= 2, "the run's events")
    places = {
        "TaskLog": json.dumps(log),
        "Task": json.dumps(cluster.get("Task", namespace, "leaky")),
        "Webhook": json.dumps(cluster.get("Webhook", namespace, "echo")),
        "Events": json.dumps([event.to_dict() for event in cluster.events(namespace, "leaky")], default=str),
        "CLI": result.stdout + result.stderr,
        "operator log": operator.text(),
    }
    for place, text in places.items():
        assert token not in text, f"the token leaked into the {place}"
