"""Every action, run on demand, against the real control plane, as the Task's ServiceAccount."""

from __future__ import annotations

import kubernetes
import pytest

from tests import support

DEPLOYMENTS = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "patch", "delete"]}]
TAG = {"taskengine.example/owner": "jthompson"}


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator."""


def task(cluster: support.Cluster, namespace: str, name: str, spec: dict) -> None:
    cluster.create("Task", namespace, name, {"serviceAccountName": "worker", **spec})
    cluster.wait_condition("Task", namespace, name, "True")


def test_scale_tagged_workstations_to_zero_and_restore(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", DEPLOYMENTS)
    cluster.deployment(namespace, "ws-01", replicas=1, labels=TAG)
    cluster.deployment(namespace, "ws-02", replicas=3, labels=TAG)
    cluster.deployment(namespace, "other", replicas=2)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"matchLabels": TAG}}
    task(cluster, namespace, "power-off", {"target": target, "action": {"scale": {"replicas": 0}}})
    task(cluster, namespace, "power-on", {"target": target, "action": {"scale": {"restore": True}}})

    result, name = cluster.run(namespace, "power-off")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeeded" in result.stdout
    assert (cluster.replicas(namespace, "ws-01"), cluster.replicas(namespace, "ws-02"), cluster.replicas(namespace, "other")) == (0, 0, 2)
    log = cluster.tasklog(namespace, name)
    assert log["status"]["phase"] == "Succeeded" and log["status"]["attempts"] == 1
    assert {(t["name"], t["result"]) for t in log["status"]["targets"]} == {("ws-01", "Succeeded"), ("ws-02", "Succeeded")}
    assert log["spec"]["trigger"]["type"] == "Manual"
    assert log["metadata"]["ownerReferences"][0]["name"] == "power-off"
    last_run = cluster.get("Task", namespace, "power-off")["status"]["lastRun"]
    assert last_run["taskLog"] == name and last_run["phase"] == "Succeeded"

    result, _ = cluster.run(namespace, "power-on")

    assert result.returncode == 0, result.stdout
    assert (cluster.replicas(namespace, "ws-01"), cluster.replicas(namespace, "ws-02")) == (1, 3)


def test_selector_matching_more_than_max_targets_touches_nothing(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", DEPLOYMENTS)
    for index in range(3):
        cluster.deployment(namespace, f"ws-{index}", replicas=1, labels=TAG)
    task(cluster, namespace, "careful", {
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"matchLabels": TAG}, "maxTargets": 2},
        "action": {"scale": {"replicas": 0}},
    })

    result, name = cluster.run(namespace, "careful")

    assert result.returncode == 1
    log = cluster.tasklog(namespace, name)
    assert log["status"]["phase"] == "Failed"
    assert "more than maxTargets (2)" in log["status"]["message"]
    assert [cluster.replicas(namespace, f"ws-{i}") for i in range(3)] == [1, 1, 1]


def test_patch_merge_json_and_strategic(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", DEPLOYMENTS + [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "patch"]}])
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"mode": "day"}})
    cluster.deployment(namespace, "web", replicas=1)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "name": "settings"}
    web = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    task(cluster, namespace, "night", {"target": config_map, "action": {"patch": {"patch": {"data": {"mode": "night", "by": "${TASK}"}}}}})
    task(cluster, namespace, "drop-mode", {"target": config_map, "action": {"patch": {"type": "json", "patch": [{"op": "remove", "path": "/data/mode"}]}}})
    task(cluster, namespace, "label-pods", {"target": web, "action": {"patch": {"type": "strategic", "patch": {"spec": {"template": {"metadata": {"labels": {"tier": "gold"}}}}}}}})

    for name in ("night", "drop-mode", "label-pods"):
        result, _ = cluster.run(namespace, name)
        assert result.returncode == 0, f"{name}: {result.stdout}"

    assert cluster.core.read_namespaced_config_map("settings", namespace).data == {"by": "night"}
    template_labels = kubernetes.client.AppsV1Api(cluster.api).read_namespaced_deployment("web", namespace).spec.template.metadata.labels
    assert template_labels == {"app": "web", "tier": "gold"}


def test_restart_and_delete(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", DEPLOYMENTS)
    cluster.deployment(namespace, "api", replicas=1)
    cluster.deployment(namespace, "old", replicas=1)
    task(cluster, namespace, "restart-api", {"target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, "action": {"restart": {}}})
    task(cluster, namespace, "remove-old", {"target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "old"}, "action": {"delete": {}}})

    assert cluster.run(namespace, "restart-api")[0].returncode == 0
    assert cluster.run(namespace, "remove-old")[0].returncode == 0

    apps = kubernetes.client.AppsV1Api(cluster.api)
    annotations = apps.read_namespaced_deployment("api", namespace).spec.template.metadata.annotations
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    support.wait_for(lambda: "old" not in [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items], "old to be deleted")


def test_create_expands_variables_and_params(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}])
    task(cluster, namespace, "make-report", {
        "params": {"color": "blue"},
        "action": {"create": {"manifest": {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"generateName": "report-"},
            "data": {"task": "${TASK}", "run": "${RUN}", "color": "${params.color}"},
        }}},
    })

    result, name = cluster.run(namespace, "make-report", "color=red")

    assert result.returncode == 0, result.stdout
    [report] = [cm for cm in cluster.core.list_namespaced_config_map(namespace).items if cm.metadata.name.startswith("report-")]
    assert report.data == {"task": "make-report", "run": name, "color": "red"}
    assert cluster.tasklog(namespace, name)["spec"]["params"] == {"color": "red"}


def test_run_job_succeeds_when_complete_and_fails_when_failed(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "delete"]}])
    task(cluster, namespace, "backup", {"action": {"run": {"image": "registry.example/backup:1", "args": ["--task", "${TASK}"]}}})
    batch = kubernetes.client.BatchV1Api(cluster.api)

    for outcome in ("Complete", "Failed"):
        _, name = cluster.run(namespace, "backup", wait=False)
        job = support.wait_for(lambda: next((j for j in batch.list_namespaced_job(namespace).items if j.metadata.labels.get("taskengine.io/run") == name), None), "the Job")
        assert job.spec.template.spec.containers[0].args == ["--task", "backup"]
        assert job.spec.template.spec.service_account_name == "worker"
        cluster.wait_phase(namespace, name, "Running")
        support.finish_job(batch, namespace, job.metadata.name, outcome)  # no kubelet here: the test plays it

        log = cluster.wait_phase(namespace, name, *support.FINISHED)

        assert log["status"]["phase"] == ("Succeeded" if outcome == "Complete" else "Failed"), log["status"]


def test_unknown_variable_fails_the_run_naming_it(cluster: support.Cluster, namespace: str) -> None:
    cluster.grant(namespace, "worker", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}])
    task(cluster, namespace, "typo", {"action": {"create": {"manifest": {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"host": "${HOSTNAME}"},
    }}}})

    result, name = cluster.run(namespace, "typo")

    assert result.returncode == 1
    assert "${HOSTNAME}" in cluster.tasklog(namespace, name)["status"]["message"]
