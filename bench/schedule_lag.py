"""Schedule firing lag: taskengine against the Kubernetes CronJob controller, same API server, same clock.

    python bench/schedule_lag.py [--sizes 1,100,1000] [--rearm 10000]

For each size N: N Tasks on one Schedule due at a whole minute, then N CronJobs due at the
next whole minute. One watcher (a plain watch client in this process) records when each
TaskLog appears and when it reaches Started, and when each Job appears; the lag is that
moment minus the due instant. Then the operator is restarted with `--rearm` Schedules in
place: the time until its first evaluation pass has armed them all, and its memory.
Prints a table and writes bench/results/schedule_lag.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import pathlib
import re
import sys
import time

from kubernetes_asyncio import client, watch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

from taskengine.kube import client as client_  # noqa: E402

UTC = datetime.timezone.utc
GROUP, VERSION = "taskengine.io", "v1alpha1"
SETUP_SECONDS = 45  # at least this long to create the objects before the due minute


def next_minute(after_seconds: float) -> datetime.datetime:
    moment = datetime.datetime.now(UTC) + datetime.timedelta(seconds=after_seconds)
    return moment.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)


async def create_many(calls: list, concurrency: int = 32) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(call):
        async with limit:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def watch_until(list_call, args: tuple, expected: int, on_event, timeout: float) -> None:
    """Watches `list_call(*args)` until `on_event` has returned True `expected` times."""
    done = 0
    deadline = time.monotonic() + timeout
    stream = watch.Watch()
    async with stream.stream(list_call, *args, timeout_seconds=int(timeout)) as events:
        async for event in events:
            if on_event(event):
                done += 1
            if done >= expected or time.monotonic() > deadline:
                break


async def taskengine_lag(api: client.ApiClient, size: int) -> dict:
    objects = client.CustomObjectsApi(api)
    namespace = f"bench-lag-{size}-{int(time.time())}"
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "webhooks", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Webhook", "metadata": {"name": "sink"},
        "spec": {"url": "http://127.0.0.1:9/", "retries": 0, "timeoutSeconds": 3},
    })
    due = next_minute(SETUP_SECONDS)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "schedules", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Schedule", "metadata": {"name": "due"},
        "spec": {"at": due.strftime("%Y-%m-%dT%H:%M:%SZ")},
    })
    await create_many([
        (lambda i=i: objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "tasks", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Task", "metadata": {"name": f"t{i}"},
            "spec": {"action": {"webhook": {"webhookRef": "sink"}}, "triggers": [{"schedule": "due"}]},
        })) for i in range(size)
    ])
    created: dict[str, float] = {}
    started: dict[str, float] = {}

    def on_event(event) -> bool:
        arrived = datetime.datetime.now(UTC)
        item = event["raw_object"]
        name = item["metadata"]["name"]
        created.setdefault(name, (arrived - due).total_seconds())
        phase = (item.get("status") or {}).get("phase")
        if phase and phase != "Triggered" and name not in started:
            started[name] = (arrived - due).total_seconds()
            return True
        return False

    await watch_until(objects.list_namespaced_custom_object, (GROUP, VERSION, namespace, "tasklogs"), size, on_event,
                      timeout=(due - datetime.datetime.now(UTC)).total_seconds() + 120)
    return {"created": common.summary(list(created.values())), "started": common.summary(list(started.values()))}


async def cronjob_lag(api: client.ApiClient, size: int) -> dict:
    batch = client.BatchV1Api(api)
    namespace = f"cron-lag-{size}-{int(time.time())}"
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    due = next_minute(SETUP_SECONDS)
    schedule = f"{due.minute} {due.hour} * * *"
    await create_many([
        (lambda i=i: batch.create_namespaced_cron_job(namespace, {
            "metadata": {"name": f"c{i}"},
            "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "registry.example/noop:1"}]}}}}},
        })) for i in range(size)
    ])
    created: dict[str, float] = {}

    def on_event(event) -> bool:
        if event["type"] != "ADDED":
            return False
        name = event["object"].metadata.name
        if name in created:
            return False
        created[name] = (datetime.datetime.now(UTC) - due).total_seconds()
        return True

    await watch_until(batch.list_namespaced_job, (namespace,), size, on_event,
                      timeout=(due - datetime.datetime.now(UTC)).total_seconds() + 180)
    return {"created": common.summary(list(created.values()))}


async def create_schedules(api: client.ApiClient, count: int) -> str:
    objects = client.CustomObjectsApi(api)
    namespace = f"bench-rearm-{int(time.time())}"
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    await create_many([
        (lambda i=i: objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "schedules", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Schedule", "metadata": {"name": f"s{i}"},
            "spec": {"cron": f"{i % 60} {i % 24} * * *", "timeZone": "Europe/Berlin"},
        })) for i in range(count)
    ], concurrency=64)
    return namespace


async def measure(sizes: list[int]) -> dict:
    clients = await client_.connect()
    api = clients.operator
    results = {}
    for size in sizes:
        ours = await taskengine_lag(api, size)
        theirs = await cronjob_lag(api, size)
        results[str(size)] = {"taskengine": ours, "cronjob controller": theirs}
        print(f"  {size}: taskengine started p50 {ours['started'].get('p50_ms')} ms, CronJob jobs p50 {theirs['created'].get('p50_ms')} ms", flush=True)
    await clients.close()
    return results


def rearm(workdir: pathlib.Path, operator: common.Operator, count: int) -> dict:
    async def create() -> None:
        clients = await client_.connect()
        await create_schedules(clients.operator, count)
        await clients.close()

    asyncio.run(create())
    time.sleep(10)  # let the running operator see and status them all
    operator.stop()
    offset = operator.log.stat().st_size
    started = operator.start()
    pattern = re.compile(r"initial evaluation of (\d+) objects done ([\d.]+)s after start")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = pattern.search(operator.log.read_text(errors="replace")[offset:])
        if found:
            return {
                "schedules": count,
                "objects_evaluated": int(found.group(1)),
                "rearmed_after_s": float(found.group(2)),
                "process_s": round(time.monotonic() - started, 1),
                "rss_mib": operator.rss_mib(),
                "cpu_s": operator.cpu_seconds(),
            }
        time.sleep(0.5)
    raise TimeoutError("the operator did not finish its first evaluation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--rearm", type=int, default=10000, help="Schedules present at restart (0: skip)")
    parser.add_argument("--use-kubeconfig", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with common.cluster(use_kubeconfig=args.use_kubeconfig) as workdir:
        operator = common.Operator(workdir / "operator.log", "bench-*")
        operator.start()
        try:
            time.sleep(3)
            lag = asyncio.run(measure(sizes))
            restart = rearm(workdir, operator, args.rearm) if args.rearm else None
        finally:
            operator.stop()
    print(f"{'tasks':>6} {'system':20} {'appeared p50':>13} {'p99':>8} {'max':>8} {'started p50':>12} {'p99':>8}")
    for size, row in lag.items():
        for system, data in row.items():
            created, began = data["created"], data.get("started", {})
            print(f"{size:>6} {system:20} {created.get('p50_ms', '-'):>11}ms {created.get('p99_ms', '-'):>6}ms {created.get('max_ms', '-'):>6}ms "
                  f"{began.get('p50_ms', '-'):>10}ms {began.get('p99_ms', '-'):>6}ms")
    if restart:
        print(f"restart with {restart['schedules']} Schedules: all re-armed {restart['rearmed_after_s']} s after start, "
              f"RSS {restart['rss_mib']} MiB, CPU {restart['cpu_s']} s")
    path = common.write("schedule_lag", {"sizes": sizes, "rearm": args.rearm}, {"lag": lag, "restart": restart})
    print(f"written {path}")


if __name__ == "__main__":
    main()
