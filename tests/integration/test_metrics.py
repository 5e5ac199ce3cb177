"""GET /metrics: what a Prometheus scrape of the operator shows about runs, groups, triggers and deliveries."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests import support
from tests.receivers import Receiver, Reply


def scrape(url: str, namespace: str) -> dict[tuple[str, frozenset], float]:
    """The samples of one namespace: (sample name, labels without namespace) -> value."""
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.pop("namespace", None) == namespace:
                samples[(sample.name, frozenset(labels.items()))] = sample.value
    return samples


def test_runs_groups_triggers_and_deliveries_are_counted(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> None:
    receiver.routes["/broken"] = Reply(status=503)
    cluster.create("Webhook", namespace, "ok", {"url": receiver.url + "/ok", "retries": 0})
    cluster.create("Webhook", namespace, "broken", {"url": receiver.url + "/broken", "retries": 1})
    cluster.create("Task", namespace, "notify", {"action": {"webhook": {"webhookRef": "ok"}}})
    cluster.create("Task", namespace, "page", {"action": {"webhook": {"webhookRef": "broken"}}})
    cluster.create("EventTrigger", namespace, "new-config", {"resource": {"apiVersion": "v1", "kind": "ConfigMap"}, "events": ["Created"]})
    cluster.create("Task", namespace, "on-config", {"action": {"webhook": {"webhookRef": "ok"}}, "triggers": [{"event": "new-config"}]})
    cluster.create("TaskGroup", namespace, "pair", {})
    cluster.create("Task", namespace, "first", {"group": "pair", "action": {"webhook": {"webhookRef": "ok"}}})
    for task in ("notify", "page", "first", "on-config"):
        cluster.wait_condition("Task", namespace, task, "True")
    cluster.wait_condition("TaskGroup", namespace, "pair", "True")
    cluster.wait_condition("EventTrigger", namespace, "new-config", "True")
    time.sleep(1.5)  # the watch lists before it fires
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    support.wait_for(lambda: cluster.tasklogs(namespace, "on-config"), "the event's run")

    cluster.run(namespace, "notify")
    cluster.run(namespace, "notify")
    cluster.run(namespace, "page")
    support.run_cli(cluster, "run", "pair", "--group", "-n", namespace, "--wait", "--timeout", "30")

    samples = scrape(operator.url, namespace)
    assert samples[("taskengine_runs_total", frozenset({("task", "notify"), ("trigger", "Manual"), ("phase", "Succeeded")}))] == 2
    assert samples[("taskengine_runs_total", frozenset({("task", "page"), ("trigger", "Manual"), ("phase", "Failed")}))] == 1
    assert samples[("taskengine_run_duration_seconds_count", frozenset({("task", "notify")}))] == 2
    assert samples[("taskengine_group_runs_total", frozenset({("group", "pair"), ("phase", "Succeeded")}))] == 1
    assert samples[("taskengine_webhook_deliveries_total", frozenset({("webhook", "broken"), ("result", "5xx")}))] == 2  # one retry
    assert samples[("taskengine_event_trigger_fires_total", frozenset({("trigger", "new-config")}))] == 1
    support.wait_for(lambda: scrape(operator.url, namespace).get(("taskengine_webhook_deliveries_total", frozenset({("webhook", "ok"), ("result", "2xx")}))) == 4,
                     "every delivery to be counted")
