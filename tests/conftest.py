"""Fixtures: a session-wide real control plane, the operator running against it, a namespace per test.

By default the session starts its own control plane (etcd, kube-apiserver,
kube-controller-manager on 127.0.0.1, binaries from hack/build-tools.sh). Set
TASKENGINE_TEST_KUBECONFIG to run the same suite against an existing cluster instead
(a kind cluster on a workstation, say): the CRDs are installed there, and every test works in
a namespace of its own that is deleted afterwards.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import kubernetes
import pytest

from taskengine.dev import controlplane, local
from tests import support


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Cluster]:
    external = os.environ.get("TASKENGINE_TEST_KUBECONFIG")
    plane = None
    if external:
        kubeconfig = pathlib.Path(external)
        tools = pathlib.Path(os.environ["TASKENGINE_TOOLS"]) if os.environ.get("TASKENGINE_TOOLS") else None
    else:
        tools = controlplane.tools_dir()
        plane = controlplane.ControlPlane(tmp_path_factory.mktemp("controlplane"))
        plane.start(tools=tools)
        kubeconfig = plane.kubeconfig
    try:
        local.install_crds(kubeconfig)
        api = local.api_client(kubeconfig)
        yield support.Cluster(kubeconfig=kubeconfig, tools=tools, api=api, plane=plane)
        api.close()
    finally:
        if plane:
            plane.stop()


class Operator:
    """The operator as a real process, the way users run it; its log is kept for the tests."""

    def __init__(self, kubeconfig: pathlib.Path, log: pathlib.Path, namespaces: list[str], env: dict[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.namespaces = namespaces
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def start(self, until: str = "Initial authentication has finished") -> None:
        """Starts it and waits until its log shows `until` (by default: Kopf has started)."""
        self.http_port = controlplane.free_port()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "TASKENGINE_LIVENESS_PORT": "0",
               "TASKENGINE_HTTP_PORT": str(self.http_port), **self.env}
        args = [arg for namespace in self.namespaces for arg in ("-n", namespace)]
        offset = len(self.text())
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "taskengine", "operator", *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        support.wait_for(lambda: until in self.text()[offset:], f"the operator to log {until!r}")

    @property
    def url(self) -> str:
        """Where its HTTP endpoints (incoming webhooks) listen."""
        return f"http://127.0.0.1:{self.http_port}"

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a node dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: frozen, its connections open, as a process starved of CPU or a node cut off."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def operator(cluster: support.Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    running = Operator(cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log", [f"{support.NAMESPACE_PREFIX}-*"])
    running.start()
    yield running
    running.stop()
    print(f"operator log: {running.log}")


@pytest.fixture
def namespace(cluster: support.Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace; afterwards, the operator's log must hold no traceback from this test."""
    name = support.unique(support.NAMESPACE_PREFIX)
    cluster.core.create_namespace({"metadata": {"name": name}})
    operator: Operator | None = None
    if "operator" in request.fixturenames:
        operator = request.getfixturevalue("operator")
    offset = len(operator.text()) if operator else 0
    yield name
    try:
        cluster.core.delete_namespace(name)
    except kubernetes.client.ApiException:
        pass
    if operator:
        time.sleep(0.2)  # let the last events of the test be handled
        new_lines = operator.text()[offset:]
        assert "Traceback" not in new_lines, f"the operator logged a traceback:\n{new_lines[-4000:]}"


@pytest.fixture
def isolated(cluster: support.Cluster, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Operator]]:
    """A namespace the session operator does not serve, with an operator of its own (to kill, pause, restart).

    `@pytest.mark.operator_env(NAME="value")` sets environment variables for that operator.
    """
    name = support.unique("iso")
    cluster.core.create_namespace({"metadata": {"name": name}})
    marker = request.node.get_closest_marker("operator_env")
    own = Operator(cluster.kubeconfig, tmp_path / "operator.log", [name], env=dict(marker.kwargs) if marker else None)
    own.start()
    yield name, own
    own.stop()
    cluster.core.delete_namespace(name)
    assert "Traceback" not in own.text(), f"the operator logged a traceback:\n{own.text()[-4000:]}"
