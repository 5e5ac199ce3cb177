"""A real control plane on 127.0.0.1: etcd, kube-apiserver and kube-controller-manager.

The binaries come from `hack/build-tools.sh` (built from the Go module proxy, cached). No
kubelet or scheduler runs: objects are stored, validated, garbage-collected and driven by
controllers (Deployments get ReplicaSets, Jobs get Pods), but no container ever starts.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import yaml

from taskengine.dev import pki as pki_

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-tools.sh"
STATE_FILE = "state.json"


class ControlPlaneError(RuntimeError):
    pass


def cache_dir() -> pathlib.Path:
    default = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "taskengine"
    return pathlib.Path(os.environ.get("TASKENGINE_CACHE", default))


def tools_dir() -> pathlib.Path:
    """The directory holding etcd, kube-apiserver, ...; builds them on first use (minutes)."""
    if explicit := os.environ.get("TASKENGINE_TOOLS"):
        return pathlib.Path(explicit)
    if not BUILD_SCRIPT.exists():
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} not found: run from a source checkout, or set TASKENGINE_TOOLS "
            "to a directory holding etcd, kube-apiserver, kube-controller-manager, kubectl and helm"
        )
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise ControlPlaneError(f"building the control plane failed (exit {result.returncode})")
    return pathlib.Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _b64(path: pathlib.Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: pathlib.Path, *, server: str, pki: pki_.Pki, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "taskengine-dev", "cluster": {"server": server, "certificate-authority-data": _b64(pki.ca)}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki.path(f"{user}.crt")),
                    "client-key-data": _b64(pki.path(f"{user}.key")),
                },
            }
        ],
        "contexts": [{"name": "taskengine-dev", "context": {"cluster": "taskengine-dev", "user": user}}],
        "current-context": "taskengine-dev",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


@dataclasses.dataclass
class ControlPlane:
    """One local control plane living in `workdir` (data, certificates, logs, kubeconfig)."""

    workdir: pathlib.Path
    pids: dict[str, int] = dataclasses.field(default_factory=dict)
    server: str = ""
    etcd: str = ""  # etcd's client URL (plain HTTP on 127.0.0.1)

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.workdir / "kubeconfig"

    @property
    def logs(self) -> pathlib.Path:
        return self.workdir / "logs"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, *, tools: pathlib.Path | None = None, timeout: float = 120) -> None:
        tools = tools or tools_dir()
        if self.running():
            raise ControlPlaneError(f"a control plane already runs from {self.workdir} (pids {self.pids})")
        for leftover in ("etcd", "pki"):
            subprocess.run(["rm", "-rf", str(self.workdir / leftover)], check=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        pki = pki_.create(self.workdir / "pki")
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self.etcd = f"http://127.0.0.1:{etcd_port}"
        write_kubeconfig(self.kubeconfig, server=self.server, pki=pki, user="admin")
        write_kubeconfig(self.workdir / "controller-manager.kubeconfig", server=self.server, pki=pki, user="controller-manager")
        try:
            self._spawn("etcd", tools / "etcd", [
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd}",
                f"--advertise-client-urls={self.etcd}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ])
            self._wait(f"{self.etcd}/health", "etcd", timeout)
            self._spawn("kube-apiserver", tools / "kube-apiserver", [
                f"--etcd-servers={self.etcd}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={self.workdir / 'pki'}",
                f"--tls-cert-file={pki.path('apiserver.crt')}",
                f"--tls-private-key-file={pki.path('apiserver.key')}",
                f"--client-ca-file={pki.ca}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--endpoint-reconciler-type=none",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                # PodTemplates are read from etcd directly, not from the watch cache: compacting etcd
                # then expires their resourceVersions at once (410 Gone), which a test needs
                "--watch-cache-sizes=podtemplates#0",
            ])
            self._wait(f"{self.server}/readyz", "kube-apiserver", timeout, pki=pki)
            self._spawn("kube-controller-manager", tools / "kube-controller-manager", [
                f"--kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self.workdir / 'pki' / 'controller-manager'}",
                f"--service-account-private-key-file={pki.path('sa.key')}",
                f"--root-ca-file={pki.ca}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",  # each controller with its own RBAC role, as in real clusters
                "--concurrent-gc-syncs=5",
            ])
        except BaseException:
            self.stop()
            raise
        self._save()

    def stop(self, timeout: float = 20) -> None:
        """Stops every process (newest first); nothing is left running."""
        self._load()
        for name in reversed(list(self.pids)):
            _terminate(self.pids[name], timeout)
        self.pids.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / STATE_FILE).unlink()

    def running(self) -> bool:
        self._load()
        return bool(self.pids) and all(_alive(pid) for pid in self.pids.values())

    def compact(self) -> int:
        """Compacts etcd's history up to now, as the API server does every 5 minutes; returns the revision.

        Every older resourceVersion is gone afterwards: a watch or an exact list from one gets 410 Gone
        (for resources the API server does not serve from its watch cache).
        """
        self._load()
        with httpx.Client(base_url=self.etcd, timeout=10) as etcd:  # etcd's JSON gateway to its gRPC API
            revision = etcd.post("/v3/kv/range", json={"key": "AA=="}).raise_for_status().json()["header"]["revision"]
            etcd.post("/v3/kv/compaction", json={"revision": revision, "physical": True}).raise_for_status()
        return int(revision)

    # -- helpers -------------------------------------------------------------------------

    def _spawn(self, name: str, binary: pathlib.Path, args: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        process = subprocess.Popen(
            [str(binary), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives `taskengine dev up` returning
        )
        log.close()
        self.pids[name] = process.pid
        self._save()

    def _wait(self, url: str, name: str, timeout: float, *, pki: pki_.Pki | None = None) -> None:
        kwargs: dict = {}
        if pki:
            context = ssl.create_default_context(cafile=str(pki.ca))
            context.load_cert_chain(str(pki.path("admin.crt")), str(pki.path("admin.key")))
            kwargs = {"verify": context}
        deadline = time.monotonic() + timeout
        last_error = ""
        with httpx.Client(timeout=5, **kwargs) as client:
            while time.monotonic() < deadline:
                if not _alive(self.pids[name]):
                    tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise ControlPlaneError(f"{name} exited during start-up; its log ends:\n{tail}")
                try:
                    response = client.get(url)
                    if response.status_code == 200:
                        return
                    last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                except httpx.HTTPError as error:
                    last_error = str(error)
                time.sleep(0.25)
        raise ControlPlaneError(f"{name} not ready at {url} after {timeout:.0f}s: {last_error}")

    def _save(self) -> None:
        state = {"pids": self.pids, "server": self.server, "etcd": self.etcd, "kubeconfig": str(self.kubeconfig)}
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _load(self) -> None:
        path = self.workdir / STATE_FILE
        if not self.pids and path.exists():
            state = json.loads(path.read_text())
            self.pids = {name: int(pid) for name, pid in state["pids"].items()}
            self.server = state.get("server", "")
            self.etcd = state.get("etcd", "")


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier `dev up`)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) != "Z"


def _state(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _terminate(pid: int, timeout: float) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    print(f"killed pid {pid} after {timeout:.0f}s", file=sys.stderr)
