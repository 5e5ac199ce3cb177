"""`taskengine dev up | env | down` from a user's shell."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from taskengine.dev import controlplane
from tests import support


def taskengine(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "taskengine", *args], capture_output=True, text=True, env=env, timeout=180)


@pytest.mark.skipif(bool(os.environ.get("TASKENGINE_TEST_KUBECONFIG")), reason="runs only with the locally built control plane")
def test_dev_up_env_down_leaves_nothing_running(cluster: support.Cluster, tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "TASKENGINE_CACHE": str(tmp_path), "TASKENGINE_TOOLS": str(cluster.tools)}

    up = taskengine("dev", "up", env=env)
    assert up.returncode == 0, up.stderr
    plane = controlplane.ControlPlane(tmp_path / "dev")
    try:
        assert f"export KUBECONFIG={plane.kubeconfig}" in up.stdout
        assert plane.running()
        pids = dict(plane.pids)

        shown = taskengine("dev", "env", env=env)
        assert shown.stdout.strip() == f"export KUBECONFIG={plane.kubeconfig}"
        crds = subprocess.run(
            [cluster.tool("kubectl"), f"--kubeconfig={plane.kubeconfig}", "get", "crd", "-o", "name"],
            capture_output=True, text=True, check=True,
        ).stdout
        assert "customresourcedefinition.apiextensions.k8s.io/tasks.taskengine.io" in crds

        down = taskengine("dev", "down", env=env)
        assert down.returncode == 0 and "stopped" in down.stdout
        assert not any(controlplane._alive(pid) for pid in pids.values())
        assert taskengine("dev", "env", env=env).returncode == 1
    finally:
        plane.stop()
