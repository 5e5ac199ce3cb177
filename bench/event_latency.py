"""Event-to-action latency: object written -> the Task's webhook received, against the bare watch.

    python bench/event_latency.py [--rates 10,200] [--seconds 5] [--objects 50000]

An EventTrigger fires a webhook Task for every labelled ConfigMap created. At each rate, the
benchmark creates ConfigMaps for `--seconds`; a plain watch client in the same process
records when the API server tells it of each (the physical floor), a local receiver when the
Task's webhook arrives. Then `--objects` more labelled ConfigMaps are created (watched by a
trigger whose `when` never holds) and the operator's memory is read.
Prints a table and writes bench/results/event_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys
import time

import kubernetes
from aiohttp import web
from kubernetes_asyncio import client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

from taskengine.dev import controlplane  # noqa: E402
from taskengine.kube import client as client_  # noqa: E402

GROUP, VERSION = "taskengine.io", "v1alpha1"


async def setup(api: client.ApiClient, namespace: str, receiver_url: str) -> None:
    objects = client.CustomObjectsApi(api)
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})

    async def create(plural: str, name: str, spec: dict) -> None:
        kind = {"webhooks": "Webhook", "eventtriggers": "EventTrigger", "tasks": "Task"}[plural]
        await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    await create("webhooks", "receiver", {"url": receiver_url, "retries": 0})
    await create("eventtriggers", "created", {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"bench": "fire"}}}, "events": ["Created"]})
    await create("tasks", "announce", {"action": {"webhook": {"webhookRef": "receiver", "payload": '{"cm": "${NAME}"}'}},
                                        "triggers": [{"event": "created"}], "history": {"successfulLimit": 0}})
    await create("eventtriggers", "never", {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"bench": "hold"}}},
                                            "when": [{"fieldPath": ".data.never", "equals": "true"}]})
    await asyncio.sleep(5)  # the operator sees them and starts its watches


async def run_rate(api: client.ApiClient, namespace: str, rate: int, seconds: float, arrivals: dict[str, float]) -> dict:
    core = client.CoreV1Api(api)
    written: dict[str, float] = {}
    watched: dict[str, float] = {}
    prefix = f"r{rate}-"

    def observe() -> None:
        """The floor, in a thread of its own so that the busy event loop cannot slow it down."""
        core_sync = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(os.environ["KUBECONFIG"]))
        stream = kubernetes.watch.Watch()
        for event in stream.stream(core_sync.list_namespaced_config_map, namespace, label_selector="bench=fire",
                                   timeout_seconds=int(seconds) + 120):
            name = event["object"].metadata.name
            if event["type"] == "ADDED" and name.startswith(prefix):
                watched.setdefault(name, time.perf_counter())
                if len(watched) >= count:
                    stream.stop()

    count = int(rate * seconds)
    observer = asyncio.ensure_future(asyncio.to_thread(observe))
    await asyncio.sleep(1)
    started = time.perf_counter()
    for index in range(count):
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        name = f"{prefix}{index}"
        written[name] = time.perf_counter()
        asyncio.ensure_future(core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": {"bench": "fire"}}}))
    deadline = time.perf_counter() + 120
    while len([n for n in written if n in arrivals]) < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.wait_for(observer, timeout=150)
    return {
        "bare watch": common.summary([watched[n] - written[n] for n in written if n in watched]),
        "taskengine action": common.summary([arrivals[n] - written[n] for n in written if n in arrivals]),
    }


async def hold_objects(api: client.ApiClient, namespace: str, count: int) -> None:
    core = client.CoreV1Api(api)
    limit = asyncio.Semaphore(64)

    async def create(index: int) -> None:
        async with limit:
            await core.create_namespaced_config_map(namespace, {"metadata": {"name": f"hold-{index}", "labels": {"bench": "hold"}}, "data": {"n": str(index)}})

    await asyncio.gather(*(create(i) for i in range(count)))


async def measure(args: argparse.Namespace, operator: common.Operator) -> dict:
    arrivals: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        arrivals[(await request.json())["cm"]] = time.perf_counter()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = controlplane.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    clients = await client_.connect()
    namespace = f"bench-events-{int(time.time())}"
    try:
        await setup(clients.operator, namespace, f"http://127.0.0.1:{port}/")
        results: dict = {"rates": {}}
        for rate in args.rates:
            results["rates"][str(rate)] = await run_rate(clients.operator, namespace, rate, args.seconds, arrivals)
            print(f"  {rate}/s done", flush=True)
        if args.objects:
            started = time.perf_counter()
            await hold_objects(clients.operator, namespace, args.objects)
            await asyncio.sleep(10)
            results["watched objects"] = {"count": args.objects, "created_s": round(time.perf_counter() - started, 1),
                                          "operator_rss_mib": operator.rss_mib(), "operator_cpu_s": operator.cpu_seconds()}
        return results
    finally:
        await clients.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="10,200", type=lambda text: [int(r) for r in text.split(",")])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--objects", type=int, default=50000)
    parser.add_argument("--use-kubeconfig", action="store_true")
    args = parser.parse_args()
    with common.cluster(use_kubeconfig=args.use_kubeconfig) as workdir:
        operator = common.Operator(workdir / "operator.log", "bench-*")
        operator.start()
        try:
            time.sleep(3)
            results = asyncio.run(measure(args, operator))
        finally:
            operator.stop()
    print(f"{'rate':>6} {'path':18} {'events':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for rate, rows in results["rates"].items():
        for path, row in rows.items():
            print(f"{rate:>5}/s {path:18} {row.get('count', 0):>7} {row.get('p50_ms', '-'):>8} {row.get('p99_ms', '-'):>8} {row.get('max_ms', '-'):>8}")
    if "watched objects" in results:
        held = results["watched objects"]
        print(f"{held['count']} watched objects: operator RSS {held['operator_rss_mib']} MiB, CPU {held['operator_cpu_s']} s")
    path = common.write("event_latency", {"rates": args.rates, "seconds": args.seconds, "objects": args.objects}, results)
    print(f"written {path}")


if __name__ == "__main__":
    main()
