"""Installing into a cluster: the Helm chart and manifests/install.yaml.

No kubelet runs in the test control plane, so the operator's pod never starts here; instead the
operator runs as a process with the identity the chart creates, which proves its RBAC is
enough for every part of the engine, and no more than it should be.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import subprocess
from collections.abc import Iterator

import httpx
import kubernetes
import pytest
import yaml

from tests import support
from tests.conftest import Operator
from tests.receivers import Receiver

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "taskengine"


def helm(cluster: support.Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cluster.tool("helm"), f"--kubeconfig={cluster.kubeconfig}", *args], capture_output=True, text=True, timeout=120)


def kubectl(cluster: support.Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cluster.tool("kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args], capture_output=True, text=True, timeout=120)


def test_chart_lints_and_carries_the_generated_crds(cluster: support.Cluster) -> None:
    lint = helm(cluster, "lint", "--strict", str(CHART))
    rendered = helm(cluster, "template", "taskengine", str(CHART), "--namespace", "ops", "--include-crds")

    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert rendered.returncode == 0, rendered.stderr
    documents = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    crds = {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == "CustomResourceDefinition"}
    generated = {path.name.removesuffix(".yaml"): yaml.safe_load(path.read_text()) for path in (REPO / "crds").glob("*.yaml")}
    assert crds == generated
    assert sorted(doc["kind"] for doc in documents if doc["kind"] != "CustomResourceDefinition") == [
        "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount",
    ]
    [deployment] = [doc for doc in documents if doc["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"taskengine:{importlib.metadata.version('taskengine')}"  # appVersion follows the package
    assert container["args"] == ["operator"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["TASKENGINE_LEADER_ELECTION"] == "true" and env["TASKENGINE_LEASE_NAME"] == "taskengine"


def test_install_yaml_is_the_rendered_chart_and_the_api_server_accepts_it(cluster: support.Cluster, tmp_path: pathlib.Path) -> None:
    fresh = tmp_path / "install.yaml"
    subprocess.run(["bash", str(REPO / "hack" / "render-install.sh"), str(fresh)], env={**os.environ, "HELM": cluster.tool("helm")},
                   check=True, capture_output=True, timeout=120)
    assert fresh.read_text() == (REPO / "manifests" / "install.yaml").read_text(), "manifests/install.yaml is stale: run hack/render-install.sh"

    cluster.core.create_namespace({"metadata": {"name": "taskengine-system"}})
    try:
        applied = kubectl(cluster, "apply", "--dry-run=server", "-f", str(fresh))
    finally:
        cluster.core.delete_namespace("taskengine-system")

    assert applied.returncode == 0, applied.stderr
    for line in ("serviceaccount/taskengine", "clusterrole.rbac.authorization.k8s.io/taskengine", "deployment.apps/taskengine",
                 "service/taskengine-hooks", "customresourcedefinition.apiextensions.k8s.io/tasks.taskengine.io",
                 "role.rbac.authorization.k8s.io/taskengine-leader"):
        assert line in applied.stdout


@pytest.fixture
def release(cluster: support.Cluster) -> Iterator[tuple[str, str]]:
    """The chart installed with Helm into a namespace of its own, serving that namespace; uninstalled afterwards."""
    namespace = support.unique("iso")
    name = support.unique("te")
    installed = helm(cluster, "install", name, str(CHART), "--namespace", namespace, "--create-namespace", "--skip-crds",
                     "--set", f"namespaces={{{namespace}*}}")  # a pattern: the operator then watches namespaces too
    assert installed.returncode == 0, installed.stderr
    yield namespace, name
    uninstalled = helm(cluster, "uninstall", name, "--namespace", namespace, "--ignore-not-found")
    cluster.core.delete_namespace(namespace)
    assert uninstalled.returncode == 0, uninstalled.stderr


def test_the_operator_needs_nothing_beyond_the_charts_rbac(cluster: support.Cluster, release: tuple[str, str], tmp_path: pathlib.Path, receiver: Receiver) -> None:
    namespace, name = release
    account = f"{name}-taskengine"
    support.wait_for(lambda: cluster.exists_service_account(namespace, "default"), "the namespace's default ServiceAccount")
    cluster.core.create_namespaced_pod(namespace, {  # stands for the operator's pod (no kubelet runs here)
        "metadata": {"name": "operator-pod"}, "spec": {"containers": [{"name": "operator", "image": "taskengine:0.1.0"}]},
    })
    as_deployed = {  # what the chart's Deployment sets
        "TASKENGINE_LEADER_ELECTION": "true", "TASKENGINE_LEASE_NAME": account, "TASKENGINE_LEASE_NAMESPACE": namespace,
        "TASKENGINE_POD_NAME": "operator-pod", "TASKENGINE_POD_NAMESPACE": namespace,
    }
    own = Operator(cluster.kubeconfig_as(namespace, account, tmp_path / "operator.kubeconfig"), tmp_path / "operator.log",
                   [f"{namespace}*"], env=as_deployed)
    own.start()
    try:
        cluster.create_secret(namespace, "hook-token", {"token": "s3cret"})
        cluster.create("Webhook", namespace, "notify", {"url": receiver.url, "auth": {"type": "Bearer", "secretRef": {"name": "hook-token"}}})
        cluster.create("EventTrigger", namespace, "new-config", {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"watch": "me"}}}, "events": ["Created"]})
        cluster.create("Task", namespace, "announce", {"action": {"webhook": {"webhookRef": "notify", "payload": '{"cm": "${NAME}"}'}}, "triggers": [{"event": "new-config"}]})
        cluster.grant(namespace, "tenant", [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "patch"]}])
        cluster.deployment(namespace, "web", replicas=2)
        cluster.create("Task", namespace, "scale-down", {"serviceAccountName": "tenant", "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "action": {"scale": {"replicas": 0}}})
        for kind, object_name in (("EventTrigger", "new-config"), ("Task", "announce"), ("Task", "scale-down")):
            cluster.wait_condition(kind, namespace, object_name, "True")

        ran, _ = cluster.run(namespace, "scale-down")
        cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "feature-flags", "labels": {"watch": "me"}}})

        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert cluster.core.read_namespaced_pod("operator-pod", namespace).metadata.labels["taskengine.io/leader"] == "true"
        assert cluster.replicas(namespace, "web") == 0  # as the Task's ServiceAccount, through impersonation
        support.wait_for(lambda: receiver.requests, "the event's webhook")
        assert json.loads(receiver.requests[0].body) == {"cm": "feature-flags"}
        assert receiver.requests[0].headers["authorization"] == "Bearer s3cret"  # the Secret was readable
        assert cluster.get("EventTrigger", namespace, "new-config")["status"]["triggerCount"] == 1

        cluster.grant(namespace, "ci", [{"apiGroups": ["taskengine.io"], "resources": ["tasks"], "verbs": ["patch"]}])
        ci = cluster.core.create_namespaced_service_account_token("ci", namespace, {"spec": {"expirationSeconds": 600}}).status.token
        started = httpx.post(f"{own.url}/api/v1/namespaces/{namespace}/tasks/announce/runs", json={}, headers={"Authorization": f"Bearer {ci}"})
        assert started.status_code == 202, started.text  # the REST API may review tokens and access
    finally:
        own.stop()
    log = own.text()
    assert f"leading: holding Lease {namespace}/{account}" in log and "could not label pod" not in log
    assert "Forbidden" not in log and "Traceback" not in log, log[-4000:]  # an API refusal says Forbidden

    def can(verb: str, resource: str) -> bool:
        answer = kubectl(cluster, "auth", "can-i", verb, resource, "-n", namespace, f"--as=system:serviceaccount:{namespace}:{account}")
        return answer.stdout.strip() == "yes"

    assert can("get", "secrets") and can("create", "tasklogs.taskengine.io") and can("impersonate", "serviceaccounts")
    assert not can("patch", "deployments") and not can("create", "secrets") and not can("create", "pods")  # its own rights change no workload


def test_the_built_in_edit_and_view_roles_cover_taskengine(cluster: support.Cluster, release: tuple[str, str]) -> None:
    namespace, _ = release
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "developer"}})
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "auditor"}})
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    for account, role in (("developer", "edit"), ("auditor", "view")):
        rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": account}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        })

    def can(account: str, verb: str, resource: str) -> bool:
        answer = kubectl(cluster, "auth", "can-i", verb, resource, "-n", namespace, f"--as=system:serviceaccount:{namespace}:{account}")
        return answer.stdout.strip() == "yes"

    support.wait_for(lambda: can("developer", "patch", "tasks.taskengine.io"), "the edit role to be aggregated")
    assert can("developer", "create", "taskgroups.taskengine.io") and can("developer", "list", "tasklogs.taskengine.io")
    assert can("auditor", "list", "tasks.taskengine.io") and not can("auditor", "patch", "tasks.taskengine.io")


def test_helm_uninstall_leaves_no_cluster_wide_grant_behind(cluster: support.Cluster, release: tuple[str, str]) -> None:
    namespace, name = release
    assert kubectl(cluster, "get", "clusterrole", f"{name}-taskengine").returncode == 0

    uninstalled = helm(cluster, "uninstall", name, "--namespace", namespace)

    assert uninstalled.returncode == 0, uninstalled.stderr
    assert "NotFound" in kubectl(cluster, "get", "clusterrole,clusterrolebinding", f"{name}-taskengine").stderr
