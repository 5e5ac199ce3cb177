"""Webhook deliveries: taskengine runs against a bare httpx loop, to the same local receiver.

    python bench/webhooks.py [--runs 300] [--tasks 30] [--concurrency 30]

Starts a local control plane (or uses $KUBECONFIG with --use-kubeconfig), the operator, and
an HTTP receiver on 127.0.0.1. Measures, in one run and against the same receiver:
- bare httpx: POSTs of the same payloads, `--concurrency` at a time: the floor;
- taskengine: `--runs` on-demand runs spread over `--tasks` webhook Tasks, requested
  `--concurrency` at a time; latency is run request (annotation written) -> request received.
Prints a table and writes bench/results/webhooks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import time

import httpx
from aiohttp import web
from kubernetes_asyncio import client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

from taskengine.dev import controlplane  # noqa: E402
from taskengine.engine import occurrence  # noqa: E402
from taskengine.kube import client as client_  # noqa: E402


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.port = controlplane.free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrivals[body["run"]] = time.perf_counter()
        return web.Response(text="ok")

    async def stop(self) -> None:
        await self._runner.cleanup()


async def bare_httpx(receiver: Receiver, runs: int, concurrency: int) -> dict[str, float]:
    limit = asyncio.Semaphore(concurrency)
    sent: dict[str, float] = {}
    async with httpx.AsyncClient() as http:
        async def post(index: int) -> None:
            run = f"bare-{index}"
            async with limit:
                sent[run] = time.perf_counter()
                await http.post(receiver.url, json={"run": run, "task": "bare"})

        started = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(runs)))
        elapsed = time.perf_counter() - started
    return common.summary([receiver.arrivals[run] - sent[run] for run in sent], elapsed)


async def taskengine_runs(receiver: Receiver, namespace: str, runs: int, tasks: int, concurrency: int) -> dict[str, float]:
    clients = await client_.connect()
    objects = client.CustomObjectsApi(clients.operator)
    await client.CoreV1Api(clients.operator).create_namespace({"metadata": {"name": namespace}})
    await objects.create_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "webhooks", {
        "apiVersion": "taskengine.io/v1alpha1", "kind": "Webhook", "metadata": {"name": "receiver"},
        "spec": {"url": receiver.url, "retries": 0},
    })
    uids = {}
    for index in range(tasks):
        name = f"hook-{index}"
        created = await objects.create_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "tasks", {
            "apiVersion": "taskengine.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
            "spec": {"action": {"webhook": {"webhookRef": "receiver", "payload": '{"run": "${RUN}", "task": "${TASK}"}'}},
                     "history": {"successfulLimit": 1000}},
        })
        uids[name] = created["metadata"]["uid"]
    await asyncio.sleep(3)  # let the operator see them
    limit = asyncio.Semaphore(concurrency)
    requested: dict[str, float] = {}
    locks = {name: asyncio.Lock() for name in uids}

    async def request(index: int) -> None:
        task = f"hook-{index % tasks}"
        async with limit, locks[task]:
            value = f"bench-{index}"
            run = occurrence.tasklog_name(task, uids[task], "Manual", value)
            requested[run] = time.perf_counter()
            await objects.patch_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "tasks", task, {
                "metadata": {"annotations": {occurrence.RUN_REQUESTED: value}},
            }, _content_type="application/merge-patch+json")
            # one request per task at a time: the annotation holds one value
            deadline = time.perf_counter() + 30
            while run not in receiver.arrivals and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)

    started = time.perf_counter()
    await asyncio.gather(*(request(i) for i in range(runs)))
    elapsed = time.perf_counter() - started
    await clients.close()
    missing = [run for run in requested if run not in receiver.arrivals]
    if missing:
        print(f"warning: {len(missing)} runs never arrived", file=sys.stderr)
    return common.summary([receiver.arrivals[run] - requested[run] for run in requested if run in receiver.arrivals], elapsed)


async def main(args: argparse.Namespace) -> dict:
    receiver = Receiver()
    await receiver.start()
    try:
        bare = await bare_httpx(receiver, args.runs, args.concurrency)
        ours = await taskengine_runs(receiver, f"bench-{int(time.time())}", args.runs, args.tasks, args.concurrency)
    finally:
        await receiver.stop()
    return {"bare httpx loop": bare, "taskengine webhook runs": ours}


def run_with_cluster(args: argparse.Namespace) -> dict:
    with common.cluster(use_kubeconfig=args.use_kubeconfig) as workdir:
        operator = common.Operator(workdir / "operator.log", "bench-*")
        operator.start()
        try:
            time.sleep(3)
            return asyncio.run(main(args))
        finally:
            operator.stop()


def report(results: dict, args: argparse.Namespace) -> None:
    header = f"{'':26} {'deliveries':>10} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    for name, row in results.items():
        print(f"{name:26} {row['count']:>10} {row['per_second']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}")
    path = common.write("webhooks", {"runs": args.runs, "tasks": args.tasks, "concurrency": args.concurrency}, results)
    print(f"written {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--use-kubeconfig", action="store_true", help="use $KUBECONFIG instead of a local control plane")
    arguments = parser.parse_args()
    report(run_with_cluster(arguments), arguments)
