"""Schedule firing lag: taskengine against the Kubernetes CronJob controller, same API server, same clock.

    python bench/schedule_lag.py [--sizes 1,100,1000] [--rearm 10000]

For each size N: N Tasks on one Schedule due at a whole minute, then N CronJobs due at the
next whole minute. One watcher (a plain watch client in this process) records when each
TaskLog appears and when it reaches Started, and when each Job appears; the lag is that
moment minus the due instant. Then `--rearm` Schedules are created and the operator restarted with them in place: the
time until all are armed again (their status.nextFireTime published anew), and its memory.
Prints a table and writes bench/results/schedule_lag.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import pathlib
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


async def armed_count(api: client.ApiClient, namespace: str) -> int:
    listing = await client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, "schedules")
    return sum(1 for item in listing["items"] if (item.get("status") or {}).get("nextFireTime"))


async def wait_armed(api: client.ApiClient, namespace: str, count: int, timeout: float = 900) -> float:
    started = time.monotonic()
    while await armed_count(api, namespace) < count:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"fewer than {count} Schedules armed after {timeout:.0f}s")
        await asyncio.sleep(1)
    return round(time.monotonic() - started, 1)


async def clear_published(api: client.ApiClient, namespace: str, count: int) -> None:
    objects = client.CustomObjectsApi(api)
    await create_many([
        (lambda i=i: objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "schedules", f"s{i}", {"status": {"nextFireTime": None, "upcoming": None}},
            _content_type="application/merge-patch+json")) for i in range(count)
    ], concurrency=64)


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


def rearm(operator: common.Operator, count: int) -> dict:
    """Arms `count` new Schedules; then restarts the operator with them in place and times the re-arming.

    Armed is seen from outside: a Schedule's status.nextFireTime is published. Before the
    restart those fields are cleared, so that the new process must publish every one again.
    """
    async def phase(step):
        clients = await client_.connect()
        try:
            return await step(clients.operator)
        finally:
            await clients.close()

    started = time.monotonic()
    namespace = asyncio.run(phase(lambda api: create_schedules(api, count)))
    created_s = round(time.monotonic() - started, 1)
    first_armed_s = asyncio.run(phase(lambda api: wait_armed(api, namespace, count)))
    operator.stop()
    asyncio.run(phase(lambda api: clear_published(api, namespace, count)))
    operator.start()
    rearmed_s = asyncio.run(phase(lambda api: wait_armed(api, namespace, count)))
    return {
        "schedules": count,
        "created_s": created_s,
        "armed_after_creation_s": first_armed_s,
        "rearmed_after_restart_s": rearmed_s,
        "rss_mib": operator.rss_mib(),
        "cpu_s_since_restart": operator.cpu_seconds(),
    }


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
            restart = rearm(operator, args.rearm) if args.rearm else None
        finally:
            operator.stop()
    print(f"{'tasks':>6} {'system':20} {'appeared p50':>13} {'p99':>8} {'max':>8} {'started p50':>12} {'p99':>8}")
    for size, row in lag.items():
        for system, data in row.items():
            created, began = data["created"], data.get("started", {})
            print(f"{size:>6} {system:20} {created.get('p50_ms', '-'):>11}ms {created.get('p99_ms', '-'):>6}ms {created.get('max_ms', '-'):>6}ms "
                  f"{began.get('p50_ms', '-'):>10}ms {began.get('p99_ms', '-'):>6}ms")
    if restart:
        print(f"{restart['schedules']} Schedules: all armed {restart['armed_after_creation_s']} s after being created; "
              f"after a restart all re-armed and published in {restart['rearmed_after_restart_s']} s; "
              f"RSS {restart['rss_mib']} MiB, CPU {restart['cpu_s_since_restart']} s")
    path = common.write("schedule_lag", {"sizes": sizes, "rearm": args.rearm}, {"lag": lag, "restart": restart})
    print(f"written {path}")


if __name__ == "__main__":
    main()
