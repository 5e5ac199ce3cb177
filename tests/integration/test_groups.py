"""TaskGroups run as one dependency graph: order, runIf, failFast, triggers, concurrency, restarts."""

from __future__ import annotations

import datetime
import json
import time
import zoneinfo

import pytest

from tests import support
from tests.receivers import Receiver, Reply

GROUP_RUN = "taskengine.io/group-run"


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator, except those that bring their own (they ask for `isolated`)."""


def member(cluster: support.Cluster, namespace: str, receiver: Receiver, name: str, group: str, *depends_on: str, **spec) -> None:
    """A Task of the group that posts {"task": ..., "cm": ...} to the receiver at /<name>."""
    cluster.create("Webhook", namespace, name, {"url": f"{receiver.url}/{name}", "retries": 0, "timeoutSeconds": 60})
    payload = spec.pop("payload", '{"task": "${TASK}"}')
    cluster.create("Task", namespace, name, {
        "group": group, "dependsOn": list(depends_on), "action": {"webhook": {"webhookRef": name, "payload": payload}}, **spec,
    })


def ready(cluster: support.Cluster, namespace: str, group: str, *tasks: str) -> None:
    cluster.wait_condition("TaskGroup", namespace, group, "True")
    for task in tasks:
        cluster.wait_condition("Task", namespace, task, "True")


def runs(cluster: support.Cluster, namespace: str, run: str) -> dict[str, dict]:
    """The TaskLogs of one group run, by task."""
    items = cluster.objects.list_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "tasklogs", label_selector=f"{GROUP_RUN}={run}")["items"]
    return {item["spec"]["task"]: item for item in items}


def last_run(cluster: support.Cluster, namespace: str, group: str) -> dict:
    return (cluster.get("TaskGroup", namespace, group).get("status") or {}).get("lastRun") or {}


def test_tasks_run_in_dependency_order_and_as_run_if_says(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.default = Reply(delay=0.3)
    cluster.create("TaskGroup", namespace, "etl", {})
    member(cluster, namespace, receiver, "extract", "etl")
    member(cluster, namespace, receiver, "transform", "etl", "extract")
    member(cluster, namespace, receiver, "load", "etl", "transform")
    member(cluster, namespace, receiver, "cleanup", "etl", "transform", runIf="Failed")
    member(cluster, namespace, receiver, "report", "etl", "load", "cleanup", runIf="Always")
    ready(cluster, namespace, "etl", "extract", "transform", "load", "cleanup", "report")

    result = support.run_cli(cluster, "run", "etl", "--group", "-n", namespace, "--wait", "--timeout", "60")

    assert result.returncode == 0, result.stdout + result.stderr
    assert [request.path for request in receiver.requests] == ["/extract", "/transform", "/load", "/report"]
    last = last_run(cluster, namespace, "etl")
    assert last["phase"] == "Succeeded"
    assert last["tasks"] == {"extract": "Succeeded", "transform": "Succeeded", "load": "Succeeded", "cleanup": "Skipped", "report": "Succeeded"}
    logs = runs(cluster, namespace, last["run"])
    assert sorted(logs) == ["cleanup", "extract", "load", "report", "transform"]  # one TaskLog per member, skipped ones too
    assert logs["transform"]["status"]["startTime"] >= logs["extract"]["status"]["completionTime"]
    assert logs["load"]["status"]["startTime"] >= logs["transform"]["status"]["completionTime"]
    assert logs["cleanup"]["status"]["reason"] == "NoDependencyFailed"
    assert logs["extract"]["spec"]["trigger"]["type"] == "Manual"
    assert logs["report"]["spec"]["trigger"] == {"type": "Dependency", "name": "etl"}
    assert all(log["spec"]["group"] == "etl" for log in logs.values())
    assert f"group run {last['run']}" in result.stdout and "report: Succeeded" in result.stdout


def test_a_failure_skips_what_needs_success_and_runs_what_handles_it(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.routes["/extract"] = Reply(status=500, body="database unavailable")
    cluster.create("TaskGroup", namespace, "etl", {})
    member(cluster, namespace, receiver, "extract", "etl")
    member(cluster, namespace, receiver, "transform", "etl", "extract")
    member(cluster, namespace, receiver, "alert", "etl", "extract", runIf="Failed")
    member(cluster, namespace, receiver, "report", "etl", "transform", runIf="Always")
    ready(cluster, namespace, "etl", "extract", "transform", "alert", "report")

    result = support.run_cli(cluster, "run", "etl", "--group", "-n", namespace, "--wait", "--timeout", "60")

    assert result.returncode == 1, result.stdout + result.stderr
    last = last_run(cluster, namespace, "etl")
    assert last["phase"] == "Failed" and "failed: extract" in last["message"]
    assert last["tasks"] == {"extract": "Failed", "transform": "Skipped", "alert": "Succeeded", "report": "Succeeded"}
    assert runs(cluster, namespace, last["run"])["transform"]["status"]["reason"] == "DependencyNotSucceeded"
    assert receiver.requests[0].path == "/extract"
    assert sorted(request.path for request in receiver.requests) == ["/alert", "/extract", "/report"]
    [event] = [e for e in cluster.events(namespace, "etl") if e.involved_object.kind == "TaskGroup"]
    assert event.type == "Warning" and "failed: extract" in event.message


def test_fail_fast_terminates_the_running_tasks_and_skips_the_rest(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.routes["/slow"] = Reply(delay=20)
    receiver.routes["/broken"] = Reply(status=500)
    cluster.create("TaskGroup", namespace, "release", {"failFast": True})
    member(cluster, namespace, receiver, "slow", "release")
    member(cluster, namespace, receiver, "broken", "release")
    member(cluster, namespace, receiver, "after-slow", "release", "slow")
    ready(cluster, namespace, "release", "slow", "broken", "after-slow")

    result = support.run_cli(cluster, "run", "release", "--group", "-n", namespace, "--wait", "--timeout", "15")

    assert result.returncode == 1, result.stdout + result.stderr
    last = last_run(cluster, namespace, "release")
    assert last["tasks"] == {"slow": "Terminated", "broken": "Failed", "after-slow": "Skipped"}
    logs = runs(cluster, namespace, last["run"])
    assert logs["slow"]["status"]["reason"] == "FailFast"
    assert logs["after-slow"]["status"]["reason"] == "FailFast"


def test_a_schedule_runs_the_group_and_forbid_skips_an_overlapping_run(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.routes["/build"] = Reply(delay=3)  # a group run lasts 3 s; the schedule fires every 2 s
    cluster.create("Schedule", namespace, "often", {"every": {"interval": 2, "unit": "Seconds"}})
    cluster.create("TaskGroup", namespace, "ci", {"triggers": [{"schedule": "often"}]})
    member(cluster, namespace, receiver, "build", "ci")
    member(cluster, namespace, receiver, "publish", "ci", "build")
    ready(cluster, namespace, "ci", "build", "publish")

    support.wait_for(lambda: len(receiver.requests) >= 4, "two group runs", timeout=30)
    cluster.patch_spec("Schedule", namespace, "often", {"suspend": True})
    time.sleep(4)  # let the last run end

    by_run: dict[str, dict[str, dict]] = {}
    for log in cluster.tasklogs(namespace, "build") + cluster.tasklogs(namespace, "publish"):
        by_run.setdefault(log["metadata"]["labels"][GROUP_RUN], {})[log["spec"]["task"]] = log
    assert all(sorted(logs) == ["build", "publish"] for logs in by_run.values())  # one TaskLog per member and run
    ran = [logs for logs in by_run.values() if logs["build"]["status"]["phase"] == "Succeeded"]
    skipped = [logs for logs in by_run.values() if logs["build"]["status"]["phase"] == "Skipped"]
    assert len(ran) >= 2 and skipped
    assert all(logs["publish"]["status"]["reason"] == "ConcurrencyForbid" for logs in skipped)
    assert all(log["spec"]["trigger"]["type"] == "Schedule" for log in (logs["build"] for logs in ran))
    periods = sorted((logs["build"]["status"]["startTime"], logs["publish"]["status"]["completionTime"]) for logs in ran)
    assert all(earlier[1] <= later[0] for earlier, later in zip(periods, periods[1:]))  # never two at once


def test_an_event_runs_the_group_with_the_object_in_every_task(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("EventTrigger", namespace, "new-tenant", {
        "resource": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"tenant": "yes"}}}, "events": ["Created"],
    })
    cluster.create("TaskGroup", namespace, "onboarding", {"triggers": [{"event": "new-tenant"}]})
    payload = '{"task": "${TASK}", "cm": "${NAME}"}'
    member(cluster, namespace, receiver, "create-space", "onboarding", payload=payload)
    member(cluster, namespace, receiver, "welcome", "onboarding", "create-space", payload=payload)
    ready(cluster, namespace, "onboarding", "create-space", "welcome")
    cluster.wait_condition("EventTrigger", namespace, "new-tenant", "True")
    time.sleep(1.5)  # the watch lists before it fires

    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "acme", "labels": {"tenant": "yes"}}})

    support.wait_for(lambda: len(receiver.requests) >= 2, "both tasks")
    assert [json.loads(r.body) for r in receiver.requests] == [{"task": "create-space", "cm": "acme"}, {"task": "welcome", "cm": "acme"}]
    support.wait_for(lambda: last_run(cluster, namespace, "onboarding").get("phase") == "Succeeded", "the group run to end")
    first = runs(cluster, namespace, last_run(cluster, namespace, "onboarding")["run"])["create-space"]
    assert first["spec"]["trigger"]["event"]["object"]["name"] == "acme"


def test_a_group_run_cut_by_an_operator_crash_is_failed_not_left_running(cluster: support.Cluster, isolated, receiver: Receiver) -> None:
    namespace, own = isolated
    receiver.routes["/first"] = Reply(delay=30)
    cluster.create("TaskGroup", namespace, "pipeline", {})
    member(cluster, namespace, receiver, "first", "pipeline")
    member(cluster, namespace, receiver, "second", "pipeline", "first")
    ready(cluster, namespace, "pipeline", "first", "second")
    started = support.run_cli(cluster, "run", "pipeline", "--group", "-n", namespace)
    assert started.returncode == 0, started.stderr
    support.wait_for(lambda: receiver.requests, "the first task to be running")

    own.kill()
    own.start()

    support.wait_for(lambda: last_run(cluster, namespace, "pipeline").get("phase") == "Failed", "the group run to be marked Failed")
    last = last_run(cluster, namespace, "pipeline")
    assert "operator stopped" in last["message"]
    logs = runs(cluster, namespace, last["run"])
    assert logs["first"]["status"]["reason"] == "OperatorRestarted"
    assert "second" not in logs  # never started behind the user's back
    support.wait_for(lambda: cluster.get("TaskGroup", namespace, "pipeline")["status"]["phase"] == "Idle", "the group to be Idle again")


def next_half_past_nine(zone: str) -> str:
    now = datetime.datetime.now(zoneinfo.ZoneInfo(zone))
    due = now.replace(hour=9, minute=30, second=0, microsecond=0)
    if due <= now:
        due += datetime.timedelta(days=1)
    return due.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_schedules_without_a_zone_follow_their_groups(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("Schedule", namespace, "morning", {"cron": "30 9 * * *"})
    cluster.create("Schedule", namespace, "often", {"every": {"interval": 2, "unit": "Seconds"}})
    cluster.create("TaskGroup", namespace, "reports", {"timeZone": "Asia/Kolkata", "triggers": [{"schedule": "morning"}, {"schedule": "often"}]})
    member(cluster, namespace, receiver, "report", "reports", payload='{"date": "${DATE}"}')
    ready(cluster, namespace, "reports", "report")

    def first_fire_time() -> str:
        return (cluster.get("Schedule", namespace, "morning").get("status") or {}).get("nextFireTime", "")

    support.wait_for(lambda: first_fire_time() == next_half_past_nine("Asia/Kolkata"), "09:30 in Kolkata", last=first_fire_time)
    support.wait_for(lambda: receiver.requests, "a run of the group")
    assert json.loads(receiver.requests[0].body)["date"].endswith("+0530")  # ${DATE} in the zone too

    cluster.patch_spec("TaskGroup", namespace, "reports", {"timeZone": "Europe/Berlin"})

    support.wait_for(lambda: first_fire_time() == next_half_past_nine("Europe/Berlin"), "09:30 in Berlin", last=first_fire_time)
    cluster.patch_spec("Schedule", namespace, "often", {"suspend": True})


def test_replace_ends_the_running_group_run_and_starts_afresh(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=20))  # the first call of "slow" hangs; later calls answer at once
    cluster.create("TaskGroup", namespace, "deploy", {"concurrencyPolicy": "Replace"})
    member(cluster, namespace, receiver, "slow", "deploy")
    member(cluster, namespace, receiver, "after", "deploy", "slow", runIf="Always")
    ready(cluster, namespace, "deploy", "slow", "after")
    first = support.run_cli(cluster, "run", "deploy", "--group", "-n", namespace).stdout.split()[2]
    support.wait_for(lambda: receiver.requests, "the first run to be under way")

    second = support.run_cli(cluster, "run", "deploy", "--group", "-n", namespace, "--wait", "--timeout", "30")

    assert second.returncode == 0, second.stdout + second.stderr
    replaced = runs(cluster, namespace, first)
    assert replaced["slow"]["status"]["phase"] == "Terminated" and replaced["slow"]["status"]["reason"] == "Replaced"
    assert replaced["after"]["status"]["phase"] == "Skipped" and replaced["after"]["status"]["reason"] == "Replaced"
    last = last_run(cluster, namespace, "deploy")
    assert last["run"] != first and last["tasks"] == {"slow": "Succeeded", "after": "Succeeded"}


def test_running_an_invalid_group_says_why_at_once(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create("TaskGroup", namespace, "loop", {})
    member(cluster, namespace, receiver, "a", "loop", "b")
    member(cluster, namespace, receiver, "b", "loop", "a")
    cluster.wait_condition("TaskGroup", namespace, "loop", "False")

    result = support.run_cli(cluster, "run", "loop", "--group", "-n", namespace, "--wait", "--timeout", "30")

    assert result.returncode == 1
    assert "cannot run: DependencyCycle" in result.stderr
    assert receiver.requests == []
