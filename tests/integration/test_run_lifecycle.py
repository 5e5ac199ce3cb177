"""How runs behave over time: retries, timeouts, concurrency, termination, history, clean-up, events."""

from __future__ import annotations

import kubernetes
import pytest

from tests import support
from tests.receivers import Receiver, Reply


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator."""


def hook_task(cluster: support.Cluster, namespace: str, name: str, url: str, *, webhook_retries: int = 0, **spec) -> None:
    cluster.create("Webhook", namespace, name, {"url": url, "retries": webhook_retries, "timeoutSeconds": 30})
    cluster.create("Task", namespace, name, {"action": {"webhook": {"webhookRef": name}}, **spec})
    cluster.wait_condition("Task", namespace, name, "True")


def test_failed_attempts_are_retried_with_backoff(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(500), Reply(502))
    hook_task(cluster, namespace, "stubborn", receiver.url, retries={"limit": 3, "backoffSeconds": 1})

    result, name = cluster.run(namespace, "stubborn")

    assert result.returncode == 0, result.stdout
    status = cluster.tasklog(namespace, name)["status"]
    assert status["phase"] == "Succeeded" and status["attempts"] == 3
    assert status["durationSeconds"] >= 3  # waited 1 s, then 2 s
    assert len(receiver.requests) == 3


def test_run_longer_than_timeout_fails_with_reason_timeout(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=20))
    hook_task(cluster, namespace, "slow", receiver.url, timeoutSeconds=2)

    result, name = cluster.run(namespace, "slow")

    assert result.returncode == 1
    status = cluster.tasklog(namespace, name)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "Timeout"
    assert 2 <= status["durationSeconds"] < 10


def test_task_shows_running_while_a_run_is_in_progress(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=3))
    hook_task(cluster, namespace, "busy", receiver.url)

    _, name = cluster.run(namespace, "busy", wait=False)

    support.wait_for(lambda: cluster.get("Task", namespace, "busy")["status"].get("phase") == "Running", "phase Running")
    cluster.wait_phase(namespace, name, "Succeeded")
    support.wait_for(lambda: cluster.get("Task", namespace, "busy")["status"].get("phase") == "Idle", "phase Idle again")


def test_forbid_skips_a_run_while_one_is_running(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=4))
    hook_task(cluster, namespace, "exclusive", receiver.url, concurrencyPolicy="Forbid")

    _, first = cluster.run(namespace, "exclusive", wait=False)
    cluster.wait_phase(namespace, first, "Running")
    result, second = cluster.run(namespace, "exclusive")

    assert result.returncode == 1
    skipped = cluster.tasklog(namespace, second)["status"]
    assert skipped["phase"] == "Skipped" and skipped["reason"] == "ConcurrencyForbid"
    assert first in skipped["message"]
    assert cluster.wait_phase(namespace, first, *support.FINISHED)["status"]["phase"] == "Succeeded"


def test_replace_terminates_the_running_one(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=20))
    hook_task(cluster, namespace, "latest-wins", receiver.url, concurrencyPolicy="Replace")

    _, first = cluster.run(namespace, "latest-wins", wait=False)
    cluster.wait_phase(namespace, first, "Running")
    result, _ = cluster.run(namespace, "latest-wins")

    assert result.returncode == 0, result.stdout
    replaced = cluster.tasklog(namespace, first)["status"]
    assert replaced["phase"] == "Terminated" and replaced["reason"] == "Replaced"


def test_terminate_stops_a_slow_webhook(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=20))
    hook_task(cluster, namespace, "hanging", receiver.url)
    _, name = cluster.run(namespace, "hanging", wait=False)
    cluster.wait_phase(namespace, name, "Running")

    result = support.run_cli(cluster, "terminate", name, "-n", namespace)

    assert result.returncode == 0, result.stderr
    status = cluster.wait_phase(namespace, name, *support.FINISHED, timeout=10)["status"]
    assert status["phase"] == "Terminated" and status["reason"] == "TerminateRequested"
    assert status["durationSeconds"] < 15


def test_terminate_deletes_the_running_job(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "delete"]}])
    cluster.create("Task", namespace, "forever", {"serviceAccountName": "worker", "action": {"run": {"image": "registry.example/sleep:1"}}})
    cluster.wait_condition("Task", namespace, "forever", "True")
    _, name = cluster.run(namespace, "forever", wait=False)
    batch = kubernetes.client.BatchV1Api(cluster.api)
    support.wait_for(lambda: batch.list_namespaced_job(namespace).items, "the Job")
    cluster.wait_phase(namespace, name, "Running")

    assert support.run_cli(cluster, "terminate", name, "-n", namespace).returncode == 0

    assert cluster.wait_phase(namespace, name, *support.FINISHED)["status"]["phase"] == "Terminated"
    support.wait_for(lambda: not [j for j in batch.list_namespaced_job(namespace).items if not j.metadata.deletion_timestamp], "the Job to go")


def test_the_same_run_request_runs_once(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "once", receiver.url)
    _, name = cluster.run(namespace, "once")

    # anything else that touches the Task redelivers the same run-requested-at value
    cluster.objects.patch_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "tasks", "once",
                                                   {"metadata": {"labels": {"touched": "yes"}}})
    cluster.patch_spec("Task", namespace, "once", {"description": "edited"})

    support.wait_for(lambda: cluster.get("Task", namespace, "once")["status"]["observedGeneration"] == 2, "the edit to be seen")
    assert [log["metadata"]["name"] for log in cluster.tasklogs(namespace, "once")] == [name]
    assert len(receiver.requests) == 1


def test_a_pruned_run_is_not_run_again(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "forgetful", receiver.url, history={"successfulLimit": 0})
    _, name = cluster.run(namespace, "forgetful")
    support.wait_for(lambda: not cluster.tasklogs(namespace, "forgetful"), "the TaskLog to be pruned")

    cluster.patch_spec("Task", namespace, "forgetful", {"description": "edited"})

    support.wait_for(lambda: cluster.get("Task", namespace, "forgetful")["status"]["observedGeneration"] == 2, "the edit to be seen")
    assert cluster.get("Task", namespace, "forgetful")["status"]["lastHandledRunRequest"]
    assert cluster.tasklogs(namespace, "forgetful") == []
    assert len(receiver.requests) == 1


def test_history_keeps_the_newest_runs(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "chatty", receiver.url, history={"successfulLimit": 2, "failedLimit": 1})
    names = [cluster.run(namespace, "chatty")[1] for _ in range(4)]
    receiver.reply(Reply(400), Reply(400))
    failed = [cluster.run(namespace, "chatty")[1] for _ in range(2)]

    kept = {log["metadata"]["name"] for log in cluster.tasklogs(namespace, "chatty")}

    assert kept == {names[2], names[3], failed[1]}


def test_delete_after_run_removes_the_task_and_its_logs(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "one-off", receiver.url, deleteAfterRun=True)

    _, name = cluster.run(namespace, "one-off", wait=False)

    support.wait_for(lambda: not cluster.exists("Task", namespace, "one-off"), "the Task to delete itself")
    assert len(receiver.requests) == 1
    support.wait_for(lambda: not cluster.tasklogs(namespace, "one-off"), "the garbage collector to remove its TaskLog", timeout=60)


def test_deleting_a_task_deletes_its_tasklogs(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "temporary", receiver.url)
    cluster.run(namespace, "temporary")
    assert len(cluster.tasklogs(namespace, "temporary")) == 1

    cluster.delete("Task", namespace, "temporary")

    support.wait_for(lambda: not cluster.tasklogs(namespace, "temporary"), "the garbage collector", timeout=60)


def test_runs_post_kubernetes_events_on_the_task(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(200), Reply(400))
    hook_task(cluster, namespace, "observed", receiver.url)

    cluster.run(namespace, "observed")
    cluster.run(namespace, "observed")

    def reasons() -> list[str]:
        return sorted(event.reason for event in cluster.events(namespace, "observed"))

    support.wait_for(lambda: len(reasons()) >= 4, "four events", last=reasons)
    assert reasons() == ["Failed", "Started", "Started", "Succeeded"]
    warning = next(event for event in cluster.events(namespace, "observed") if event.reason == "Failed")
    assert warning.type == "Warning" and "HTTP 400" in warning.message


def test_paused_task_records_the_request_as_skipped(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "paused", receiver.url, enabled=False)

    result, name = cluster.run(namespace, "paused")

    assert result.returncode == 1
    status = cluster.tasklog(namespace, name)["status"]
    assert status["phase"] == "Skipped" and status["reason"] == "TaskPaused"
    assert receiver.requests == []


def test_logs_lists_the_run_history(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    hook_task(cluster, namespace, "listed", receiver.url)
    _, first = cluster.run(namespace, "listed")
    receiver.reply(Reply(400))
    _, second = cluster.run(namespace, "listed")

    table = support.run_cli(cluster, "logs", "listed", "-n", namespace).stdout.splitlines()

    assert table[0].split()[:5] == ["STARTED", "TRIGGER", "PHASE", "DURATION", "TASKLOG"]
    assert first in table[1] and "Manual" in table[1] and "Succeeded" in table[1]
    assert second in table[2] and "Failed" in table[2] and "HTTP 400" in table[2]
