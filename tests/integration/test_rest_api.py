"""The REST API: runs started and read over HTTP, as the caller's own Kubernetes identity."""

from __future__ import annotations

import httpx
import pytest

from tests import support
from tests.receivers import Receiver

RUNNER = [{"apiGroups": ["taskengine.io"], "resources": ["tasks", "taskgroups"], "verbs": ["get", "list", "patch"]},
          {"apiGroups": ["taskengine.io"], "resources": ["tasklogs"], "verbs": ["list"]}]


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator."""


def token(cluster: support.Cluster, namespace: str, account: str) -> str:
    return cluster.core.create_namespaced_service_account_token(account, namespace, {"spec": {"expirationSeconds": 3600}}).status.token


def test_a_run_is_started_and_read_back_with_the_callers_rights(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    cluster.create("Webhook", namespace, "notify", {"url": receiver.url, "retries": 0})
    cluster.create("Task", namespace, "deploy", {"action": {"webhook": {"webhookRef": "notify", "payload": '{"version": "${params.version}"}'}}})
    cluster.wait_condition("Task", namespace, "deploy", "True")
    cluster.grant(namespace, "ci", RUNNER)
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    url = f"{operator.url}/api/v1/namespaces/{namespace}/tasks/deploy/runs"

    anonymous = httpx.post(url, json={})
    refused = httpx.post(url, json={}, headers={"Authorization": f"Bearer {token(cluster, namespace, 'nobody')}"})
    ci = {"Authorization": f"Bearer {token(cluster, namespace, 'ci')}", "Idempotency-Key": "build-812"}
    started = httpx.post(url, json={"params": {"version": "1.4.2"}}, headers=ci)
    retried = httpx.post(url, json={"params": {"version": "1.4.2"}}, headers=ci)

    assert anonymous.status_code == 401
    assert refused.status_code == 403
    assert refused.json()["error"] == f'system:serviceaccount:{namespace}:nobody may not patch tasks.taskengine.io "deploy" in namespace "{namespace}"'
    assert started.status_code == 202 and retried.json() == started.json()  # the retry did not run it again
    name = started.json()["taskLog"]
    log = cluster.wait_phase(namespace, name, *support.FINISHED)
    assert log["status"]["phase"] == "Succeeded"
    assert log["spec"]["trigger"] == {"type": "Api", "name": f"system:serviceaccount:{namespace}:ci"}
    assert log["spec"]["params"] == {"version": "1.4.2"}
    assert [r.body for r in receiver.requests] == [b'{"version": "1.4.2"}']

    listed = httpx.get(url, headers={"Authorization": ci["Authorization"]}).json()
    assert [(run["taskLog"], run["phase"], run["trigger"]["type"]) for run in listed["runs"]] == [(name, "Succeeded", "Api")]


def test_a_group_runs_over_the_api_and_unknown_names_are_404(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    cluster.create("Webhook", namespace, "notify", {"url": receiver.url, "retries": 0})
    cluster.create("TaskGroup", namespace, "release", {})
    cluster.create("Task", namespace, "build", {"group": "release", "action": {"webhook": {"webhookRef": "notify"}}})
    cluster.create("Task", namespace, "ship", {"group": "release", "dependsOn": ["build"], "action": {"webhook": {"webhookRef": "notify"}}})
    cluster.wait_condition("TaskGroup", namespace, "release", "True")
    cluster.grant(namespace, "ci", RUNNER)
    headers = {"Authorization": f"Bearer {token(cluster, namespace, 'ci')}"}
    base = f"{operator.url}/api/v1/namespaces/{namespace}"

    started = httpx.post(f"{base}/taskgroups/release/runs", json={}, headers=headers)
    missing = httpx.post(f"{base}/tasks/no-such-task/runs", json={}, headers=headers)

    assert started.status_code == 202, started.text
    assert missing.status_code == 404 and "no-such-task" in missing.json()["error"]
    run = started.json()["groupRun"]
    support.wait_for(lambda: (cluster.get("TaskGroup", namespace, "release")["status"].get("lastRun") or {}).get("phase") == "Succeeded",
                     "the group run to succeed")
    assert cluster.get("TaskGroup", namespace, "release")["status"]["lastRun"]["run"] == run
    assert len(receiver.requests) == 2


def test_the_dashboard_shows_a_namespace_to_whoever_may_list_its_tasks(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    cluster.create("Webhook", namespace, "notify", {"url": receiver.url, "retries": 0})
    cluster.create("Schedule", namespace, "nightly", {"cron": "0 2 * * *"})
    cluster.create("TaskGroup", namespace, "release", {"triggers": [{"schedule": "nightly"}]})
    cluster.create("Task", namespace, "build", {"group": "release", "action": {"webhook": {"webhookRef": "notify"}}})
    cluster.create("Task", namespace, "ship", {"group": "release", "dependsOn": ["build"], "action": {"webhook": {"webhookRef": "notify"}}})
    cluster.create("Task", namespace, "broken", {"action": {"webhook": {"webhookRef": "missing"}}})
    cluster.wait_condition("TaskGroup", namespace, "release", "True")
    cluster.wait_condition("Task", namespace, "broken", "False")
    cluster.grant(namespace, "ci", RUNNER)
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    result = support.run_cli(cluster, "run", "release", "--group", "-n", namespace, "--wait", "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    url = f"{operator.url}/api/v1/namespaces/{namespace}/overview"

    page = httpx.get(f"{operator.url}/dashboard")
    refused = httpx.get(url, headers={"Authorization": f"Bearer {token(cluster, namespace, 'nobody')}"})
    shown = support.wait_for(lambda: (body := httpx.get(url, headers={"Authorization": f"Bearer {token(cluster, namespace, 'ci')}"}).json())
                             ["groups"][0].get("lastRun", {}) and body, "the group run in the overview")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "/overview" in page.text
    assert refused.status_code == 403
    tasks = {task["name"]: task for task in shown["tasks"]}
    assert sorted(tasks) == ["broken", "build", "ship"]
    assert tasks["broken"]["ready"]["status"] == "False" and tasks["broken"]["ready"]["reason"] == "ReferenceNotFound"
    assert tasks["ship"]["group"] == "release" and tasks["ship"]["lastRun"]["phase"] == "Succeeded"
    [group] = shown["groups"]
    assert group["graph"]["edges"] == [{"from": "build", "to": "ship"}]
    assert group["lastRun"]["tasks"] == {"build": "Succeeded", "ship": "Succeeded"}
    assert shown["schedules"][0]["name"] == "nightly" and shown["schedules"][0]["nextFireTime"]
