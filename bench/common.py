"""What the benchmarks share: a control plane (or $KUBECONFIG), the operator, statistics, reports."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from taskengine.dev import controlplane, local

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def cluster(*, use_kubeconfig: bool) -> Iterator[pathlib.Path]:
    """A scratch directory, with $KUBECONFIG pointing at a fresh local control plane (unless told to use the current one)."""
    with tempfile.TemporaryDirectory() as workdir:
        plane = None
        if not use_kubeconfig:
            plane = controlplane.ControlPlane(pathlib.Path(workdir) / "plane")
            plane.start()
            os.environ["KUBECONFIG"] = str(plane.kubeconfig)
        local.install_crds(pathlib.Path(os.environ["KUBECONFIG"]))
        try:
            yield pathlib.Path(workdir)
        finally:
            if plane:
                plane.stop()


class Operator:
    def __init__(self, log: pathlib.Path, namespaces: str) -> None:
        self.log = log
        self.namespaces = namespaces
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Starts it; returns the monotonic time it was started at."""
        started = time.monotonic()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "taskengine", "operator", "-n", self.namespaces],
                env={**os.environ, "TASKENGINE_LIVENESS_PORT": "0"}, stdout=log, stderr=subprocess.STDOUT,
            )
        return started

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def rss_mib(self) -> float:
        for line in pathlib.Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def summary(latencies: list[float], elapsed: float | None = None) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {"count": 0}
    result = {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }
    if elapsed:
        result["per_second"] = round(len(ordered) / elapsed, 1)
    return result


def write(name: str, parameters: dict, results: dict) -> pathlib.Path:
    RESULTS.mkdir(exist_ok=True)
    document = {
        "benchmark": name,
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": parameters,
        "results": results,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2))
    return path
