"""What a user sees with kubectl: the examples apply and become Ready, explain teaches the API,
`kubectl get taskengine` lists every kind with useful columns."""

from __future__ import annotations

import pathlib
import subprocess

import pytest
import yaml

from tests import support

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "examples"


def kubectl(cluster: support.Cluster, *args: str) -> str:
    result = subprocess.run(
        [cluster.tool("kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.stem)
def test_example_applies_cleanly_and_becomes_ready(cluster: support.Cluster, namespace: str, operator, example: pathlib.Path) -> None:
    output = kubectl(cluster, "apply", "-n", namespace, "-f", str(example))

    ours = [doc for doc in yaml.safe_load_all(example.read_text()) if doc["apiVersion"].startswith("taskengine.io/")]
    assert len(ours) >= 2
    for doc in ours:
        assert f"{doc['kind'].lower()}.taskengine.io/{doc['metadata']['name']} created" in output
        cluster.wait_condition(doc["kind"], namespace, doc["metadata"]["name"], "True")
    for doc in ours:
        if doc["kind"] == "Task":
            assert cluster.get("Task", namespace, doc["metadata"]["name"])["status"]["phase"] == "Idle"


def test_heartbeat_example_fires_on_its_schedule(cluster: support.Cluster, namespace: str, operator) -> None:
    kubectl(cluster, "apply", "-n", namespace, "-f", str(EXAMPLES / "heartbeat.yaml"))

    [log] = support.wait_for(lambda: cluster.tasklogs(namespace, "heartbeat"), "the first heartbeat", timeout=45)

    assert cluster.wait_phase(namespace, log["metadata"]["name"], *support.FINISHED)["status"]["phase"] == "Succeeded"
    data = cluster.core.read_namespaced_config_map("heartbeat", namespace).data
    assert data["run"] == log["metadata"]["name"] and data["last"] != "never"


def test_get_taskengine_lists_every_kind_with_ready_column(cluster: support.Cluster, namespace: str, operator) -> None:
    kubectl(cluster, "apply", "-n", namespace, "-f", str(EXAMPLES / "gpu-workstations.yaml"))
    cluster.wait_condition("Task", namespace, "power-off-workstations", "True")

    listing = kubectl(cluster, "get", "taskengine", "-n", namespace)

    for line in ("task.taskengine.io/power-off-workstations", "schedule.taskengine.io/friday-6pm",
                 "calendar.taskengine.io/holidays-de", "eventtrigger.taskengine.io/jthompson-session-ended"):
        assert line in listing
    tasks = kubectl(cluster, "get", "tk", "-n", namespace).splitlines()
    assert tasks[0].split()[:3] == ["NAME", "PHASE", "LAST"] and "READY" in tasks[0]
    power_off = next(row for row in tasks if row.startswith("power-off-workstations"))
    assert "Idle" in power_off.split() and "True" in power_off.split()
    schedules = kubectl(cluster, "get", "sched", "-n", namespace)
    assert "0 18 * * 5" in schedules and "Europe/Berlin" in schedules


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("task.spec.action", "exactly one of scale, patch, delete, restart, create, run, webhook"),
        ("task.spec.target.selector", 'Every object whose labels match (the "tag")'),
        ("schedule.spec.startingDeadlineSeconds", "run a missed occurrence only if it is at most this late"),
        ("webhook.spec.timeoutSeconds", "3 to 300 seconds"),
        ("tasklog.status.phase", "Triggered, Started, Running, Succeeded, Failed, Terminated or Skipped"),
    ],
)
def test_kubectl_explain_teaches_the_api(cluster: support.Cluster, field: str, expected: str) -> None:
    explanation = " ".join(kubectl(cluster, "explain", field).split())

    assert expected in explanation


def test_nightly_batch_example_runs_as_one_graph_at_two_in_berlin(cluster: support.Cluster, namespace: str, operator) -> None:
    kubectl(cluster, "apply", "-n", namespace, "-f", str(EXAMPLES / "nightly-batch.yaml"))
    cluster.wait_condition("TaskGroup", namespace, "nightly-batch", "True")
    for task in ("stop-reporting", "open-batch-window", "start-reporting", "close-batch-window"):
        cluster.wait_condition("Task", namespace, task, "True")

    result = support.run_cli(cluster, "run", "nightly-batch", "--group", "-n", namespace, "--wait", "--timeout", "60")

    assert result.returncode == 0, result.stdout + result.stderr
    window = cluster.core.read_namespaced_config_map("batch-window", namespace).data
    assert window["state"] == "closed" and window["since"] and window["lastRun"].startswith("close-batch-window-")
    assert cluster.replicas(namespace, "reporting-api") == 2
    [stopped] = cluster.tasklogs(namespace, "stop-reporting")
    assert stopped["status"]["targets"][0]["message"] == "scaled from 2 to 0 replicas"
    upcoming = cluster.get("Schedule", namespace, "nightly")["status"]["upcoming"]
    assert all(instant[11:19] in ("01:00:00", "00:00:00") for instant in upcoming)  # 02:00 in Berlin (CET or CEST)
