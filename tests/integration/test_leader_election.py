"""Several replicas, one Lease: only the holder works; a standby takes over when it dies or leaves."""

from __future__ import annotations

import pathlib
import re
import time
from collections.abc import Iterator

import httpx
import kubernetes
import pytest

from tests import support
from tests.conftest import Operator
from tests.receivers import Receiver


@pytest.fixture
def replicas(cluster: support.Cluster, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Operator, Operator]]:
    """Two operators serving one namespace, electing a leader with a Lease there (4 s unless the test is marked)."""
    namespace = support.unique("iso")
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    marker = request.node.get_closest_marker("operator_env")
    env = {"TASKENGINE_LEADER_ELECTION": "true", "TASKENGINE_LEASE_NAMESPACE": namespace, "TASKENGINE_LEASE_DURATION_SECONDS": "4",
           **(marker.kwargs if marker else {})}
    first = Operator(cluster.kubeconfig, tmp_path / "first.log", [namespace], env=dict(env))
    second = Operator(cluster.kubeconfig, tmp_path / "second.log", [namespace], env=dict(env))
    yield namespace, first, second
    for replica in (first, second):
        replica.stop()
        assert "Traceback" not in replica.text(), replica.text()[-4000:]
    cluster.core.delete_namespace(namespace)


def identity(replica: Operator) -> str:
    return re.search(r"leading: holding Lease \S+ as (\S+)", replica.text()).group(1)


def test_only_the_lease_holder_runs_and_a_standby_takes_over(cluster: support.Cluster, replicas, receiver: Receiver) -> None:
    namespace, first, second = replicas
    first.start()
    second.start(until="standing by")
    cluster.create("Schedule", namespace, "every-second", {"every": {"unit": "Seconds"}})
    cluster.create("Webhook", namespace, "tick", {"url": receiver.url, "retries": 0})
    cluster.create("Task", namespace, "tick", {"action": {"webhook": {"webhookRef": "tick", "payload": '{"at": "${TIMESTAMP}"}'}},
                                                "triggers": [{"schedule": "every-second"}]})
    support.wait_for(lambda: len(receiver.requests) >= 3, "the leader to run the task")

    lease = kubernetes.client.CoordinationV1Api(cluster.api).read_namespaced_lease("taskengine", namespace)
    assert lease.spec.holder_identity == identity(first)
    assert "Initial authentication has finished" not in second.text()  # the standby watches nothing, runs nothing
    refused = httpx.post(f"{second.url}/hooks/{namespace}/anything", json={})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"  # a sender retries, and reaches the leader

    first.kill()  # no goodbye: the Lease must expire

    support.wait_for(lambda: "leading: holding Lease" in second.text(), "the standby to take over", timeout=30)
    before = len(receiver.requests)
    support.wait_for(lambda: len(receiver.requests) >= before + 3, "the new leader to run the task")
    cluster.patch_spec("Schedule", namespace, "every-second", {"suspend": True})
    time.sleep(1)
    instants = [log["spec"]["trigger"]["scheduledTime"] for log in cluster.tasklogs(namespace, "tick")]
    assert len(instants) == len(set(instants))  # never twice for one instant, across the handover


@pytest.mark.operator_env(TASKENGINE_LEASE_DURATION_SECONDS="120")
def test_a_leader_that_stops_cleanly_hands_over_at_once(cluster: support.Cluster, replicas) -> None:
    namespace, first, second = replicas
    first.start()
    second.start(until="standing by")

    first.stop()  # SIGTERM: the Lease is released, not left to expire (that would take two minutes)

    support.wait_for(lambda: "leading: holding Lease" in second.text(), "the standby to take over", timeout=45)
    assert "released Lease" in first.text()
    lease = kubernetes.client.CoordinationV1Api(cluster.api).read_namespaced_lease("taskengine", namespace)
    assert lease.spec.holder_identity == identity(second)


@pytest.mark.operator_env(TASKENGINE_POD_NAME="")  # set per replica below
def test_the_leaders_pod_is_labelled_so_a_service_selects_it_alone(cluster: support.Cluster, replicas) -> None:
    namespace, first, second = replicas
    support.wait_for(lambda: cluster.exists_service_account(namespace, "default"), "the namespace's default ServiceAccount")
    for replica, pod in ((first, "taskengine-a"), (second, "taskengine-b")):
        cluster.core.create_namespaced_pod(namespace, {  # no kubelet here: the pod objects stand for the replicas
            "metadata": {"name": pod, "labels": {"app": "taskengine"}},
            "spec": {"containers": [{"name": "operator", "image": "registry.example/taskengine:1"}]},
        })
        replica.env["TASKENGINE_POD_NAME"] = pod

    def leader_label(pod: str) -> str | None:
        return (cluster.core.read_namespaced_pod(pod, namespace).metadata.labels or {}).get("taskengine.io/leader")

    first.start()
    second.start(until="standing by")
    support.wait_for(lambda: leader_label("taskengine-b") == "false", "the standby's pod to say so")
    assert leader_label("taskengine-a") == "true"

    first.kill()
    support.wait_for(lambda: leader_label("taskengine-b") == "true", "the new leader's pod to be labelled", timeout=30)
    first.start(until="standing by")  # the dead leader's container restarts: its pod stops attracting traffic

    support.wait_for(lambda: leader_label("taskengine-a") == "false", "the restarted replica's pod to be unlabelled")
