"""Schedules fire Tasks at their instants, in real time, on the real control plane."""

from __future__ import annotations

import datetime
import pathlib
import time
from collections.abc import Iterator

import pytest

from tests import support
from tests.conftest import Operator
from tests.receivers import Receiver

UTC = datetime.timezone.utc


def hook_task(cluster: support.Cluster, namespace: str, name: str, url: str, **spec) -> None:
    cluster.create("Webhook", namespace, name, {"url": url, "retries": 0})
    cluster.create("Task", namespace, name, {"action": {"webhook": {"webhookRef": name, "payload": '{"at": "${TRIGGER}"}'}}, **spec})


def scheduled_times(cluster: support.Cluster, namespace: str, task: str) -> list[str]:
    return sorted(log["spec"]["trigger"]["scheduledTime"] for log in cluster.tasklogs(namespace, task))


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_two_seconds_fires_each_instant_once(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    start = (datetime.datetime.now(UTC) + datetime.timedelta(seconds=3)).replace(microsecond=0)
    cluster.create("Schedule", namespace, "often", {"every": {"interval": 2, "unit": "Seconds"}, "startTime": start.isoformat().replace("+00:00", "Z")})
    hook_task(cluster, namespace, "ping", receiver.url, triggers=[{"schedule": "often"}])

    support.wait_for(lambda: len(cluster.tasklogs(namespace, "ping")) >= 3, "three runs", timeout=20)

    times = [parse(t) for t in scheduled_times(cluster, namespace, "ping")]
    assert len(times) == len(set(times))
    assert all((t - start).total_seconds() % 2 == 0 for t in times)
    log = cluster.tasklogs(namespace, "ping")[0]
    assert log["spec"]["trigger"]["type"] == "Schedule" and log["spec"]["trigger"]["name"] == "often"
    status = cluster.get("Schedule", namespace, "often")["status"]
    assert len(status["upcoming"]) == 5 and status["nextFireTime"] == status["upcoming"][0]
    assert parse(status["lastFireTime"]) in times
    assert cluster.get("Task", namespace, "ping")["status"]["nextRunTime"]


def test_friday_schedule_previews_its_runs_skipping_holidays(cluster: support.Cluster, namespace: str, operator) -> None:
    cluster.create("Calendar", namespace, "holidays-de", {"holidays": {"country": "DE", "subdivision": "BY"}})
    cluster.create("Schedule", namespace, "friday-6pm", {"cron": "0 18 * * 5", "timeZone": "Europe/Berlin", "calendar": "holidays-de",
                                                         "startTime": "2026-12-12T00:00:00", "endTime": "2027-02-01T00:00:00"})
    cluster.create("Task", namespace, "power-off", {"action": {"restart": {}}, "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ws"},
                                                    "triggers": [{"schedule": "friday-6pm"}]})

    status = support.wait_for(lambda: cluster.get("Schedule", namespace, "friday-6pm").get("status", {}).get("upcoming") and
                              cluster.get("Schedule", namespace, "friday-6pm")["status"], "the preview")

    expected = ["2026-12-18T17:00:00Z", "2027-01-08T17:00:00Z", "2027-01-15T17:00:00Z", "2027-01-22T17:00:00Z", "2027-01-29T17:00:00Z"]
    if datetime.datetime.now(UTC) < parse(expected[0]):
        assert status["upcoming"] == expected  # Christmas Day and New Year's Day are Fridays, and holidays
    support.wait_for(lambda: cluster.get("Task", namespace, "power-off")["status"].get("nextRunTime") == status["nextFireTime"], "the Task's next run")
    calendar = support.wait_for(lambda: cluster.get("Calendar", namespace, "holidays-de").get("status", {}).get("upcoming"), "the calendar's days")
    assert "2026-12-25" in calendar or datetime.date.today() > datetime.date(2026, 12, 25)


def test_editing_rearms_and_deleting_disarms(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    cluster.create("Schedule", namespace, "tick", {"cron": "0 0 1 1 *"})
    hook_task(cluster, namespace, "tick", receiver.url, triggers=[{"schedule": "tick"}])
    yearly = support.wait_for(lambda: cluster.get("Schedule", namespace, "tick").get("status", {}).get("nextFireTime"), "armed")
    assert yearly.endswith("-01-01T00:00:00Z")

    cluster.patch_spec("Schedule", namespace, "tick", {"cron": None, "every": {"unit": "Seconds"}})
    support.wait_for(lambda: len(cluster.tasklogs(namespace, "tick")) >= 2, "runs every second", timeout=15)

    cluster.delete("Schedule", namespace, "tick")
    time.sleep(1.5)
    settled = len(cluster.tasklogs(namespace, "tick"))
    time.sleep(3)
    assert len(cluster.tasklogs(namespace, "tick")) == settled
    assert cluster.wait_condition("Task", namespace, "tick", "False")["reason"] == "ReferenceNotFound"


def test_suspended_schedule_and_paused_task_fire_nothing(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    cluster.create("Schedule", namespace, "held", {"every": {"unit": "Seconds"}, "suspend": True})
    cluster.create("Schedule", namespace, "running", {"every": {"unit": "Seconds"}})
    hook_task(cluster, namespace, "held", receiver.url, triggers=[{"schedule": "held"}])
    hook_task(cluster, namespace, "paused", receiver.url, triggers=[{"schedule": "running"}], enabled=False)
    cluster.wait_condition("Schedule", namespace, "held", "True")
    cluster.wait_condition("Task", namespace, "paused", "True")

    time.sleep(3)

    assert cluster.tasklogs(namespace, "held") == [] and cluster.tasklogs(namespace, "paused") == []
    held = cluster.get("Schedule", namespace, "held").get("status", {})
    assert not held.get("nextFireTime") and not held.get("done")


def test_calendar_day_is_skipped_without_a_failure(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    today = datetime.datetime.now(UTC).date()
    days = [str(today), str(today + datetime.timedelta(days=1))]  # the test may run across midnight
    cluster.create("Calendar", namespace, "today-off", {"dates": days})
    cluster.create("Schedule", namespace, "busy", {"every": {"unit": "Seconds"}, "calendar": "today-off"})
    hook_task(cluster, namespace, "quiet", receiver.url, triggers=[{"schedule": "busy"}])
    cluster.wait_condition("Schedule", namespace, "busy", "True")

    time.sleep(3)

    assert cluster.tasklogs(namespace, "quiet") == []
    assert receiver.requests == []


def test_one_time_schedule_fires_once_and_the_task_deletes_itself(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    at = (datetime.datetime.now(UTC) + datetime.timedelta(seconds=4)).replace(microsecond=0)
    cluster.create("Schedule", namespace, "once", {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    hook_task(cluster, namespace, "one-off", receiver.url, triggers=[{"schedule": "once"}], deleteAfterRun=True)

    support.wait_for(lambda: not cluster.exists("Task", namespace, "one-off"), "the one-time Task to run and delete itself", timeout=20)
    assert len(receiver.requests) == 1
    status = cluster.get("Schedule", namespace, "once")["status"]
    assert status["lastFireTime"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert not status.get("nextFireTime") and status["upcoming"] == []
    assert status["done"] is True


@pytest.fixture
def isolated(cluster: support.Cluster, tmp_path: pathlib.Path) -> Iterator[tuple[str, list[Operator]]]:
    """A namespace the session operator does not serve; the test starts its own operators."""
    name = support.unique("iso")
    cluster.core.create_namespace({"metadata": {"name": name}})
    operators = [Operator(cluster.kubeconfig, tmp_path / f"operator-{i}.log", [name]) for i in range(2)]
    yield name, operators
    for operator in operators:
        operator.stop()
    cluster.core.delete_namespace(name)


def test_two_operators_record_each_occurrence_once(cluster: support.Cluster, isolated, receiver: Receiver) -> None:
    namespace, (first, second) = isolated
    first.start()
    second.start()
    cluster.create("Schedule", namespace, "often", {"every": {"unit": "Seconds"}})
    hook_task(cluster, namespace, "ping", receiver.url, triggers=[{"schedule": "often"}])

    support.wait_for(lambda: len(cluster.tasklogs(namespace, "ping")) >= 5, "five runs", timeout=30)
    first.stop()
    second.stop()

    times = scheduled_times(cluster, namespace, "ping")
    assert len(times) == len(set(times))
    delivered = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(delivered) == len(set(delivered))  # no occurrence delivered twice (the last may have been cut by the stop)
    assert {d.removesuffix(".run") for d in delivered} <= {log["metadata"]["name"] for log in cluster.tasklogs(namespace, "ping")}


def test_missed_occurrence_within_the_deadline_runs_after_restart(cluster: support.Cluster, isolated, receiver: Receiver) -> None:
    namespace, (own, _) = isolated
    own.start()
    cluster.create("Schedule", namespace, "often", {"every": {"interval": 2, "unit": "Seconds"}, "startingDeadlineSeconds": 60})
    hook_task(cluster, namespace, "ping", receiver.url, triggers=[{"schedule": "often"}])
    support.wait_for(lambda: cluster.tasklogs(namespace, "ping"), "a first run", timeout=20)
    own.kill()
    down_since = datetime.datetime.now(UTC)
    before = set(scheduled_times(cluster, namespace, "ping"))
    time.sleep(7)

    own.start()

    def caught_up() -> list[dict]:
        return [log for log in cluster.tasklogs(namespace, "ping")
                if log["spec"]["trigger"]["scheduledTime"] not in before and log["spec"]["trigger"].get("missed")]

    [catch_up] = support.wait_for(caught_up, "the missed occurrence to run", timeout=20)
    assert catch_up["spec"]["trigger"]["missed"] >= 2  # the others were counted, not run
    assert parse(catch_up["spec"]["trigger"]["scheduledTime"]) > down_since
    assert cluster.wait_phase(namespace, catch_up["metadata"]["name"], *support.FINISHED)["status"]["phase"] == "Succeeded"


def test_missed_occurrence_past_the_deadline_is_recorded_as_skipped(cluster: support.Cluster, isolated, receiver: Receiver) -> None:
    namespace, (own, _) = isolated
    own.start()
    cluster.create("Schedule", namespace, "often", {"every": {"interval": 2, "unit": "Seconds"}, "startingDeadlineSeconds": 0})
    hook_task(cluster, namespace, "ping", receiver.url, triggers=[{"schedule": "often"}])
    support.wait_for(lambda: cluster.tasklogs(namespace, "ping"), "a first run", timeout=20)
    own.kill()
    time.sleep(5)

    own.start()

    def skipped() -> list[dict]:
        return [log for log in cluster.tasklogs(namespace, "ping") if (log.get("status") or {}).get("reason") == "MissedDeadline"]

    [record] = support.wait_for(skipped, "a MissedDeadline record", timeout=20)
    assert record["status"]["phase"] == "Skipped"
    assert "startingDeadlineSeconds (0)" in record["status"]["message"]
