"""Prometheus metrics of the operator, served at GET /metrics on the HTTP port.

Labels stay bounded: namespace and the name of a Task, TaskGroup or EventTrigger, never an
object's uid or a run's name.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

RUNS = Counter(
    "taskengine_runs", "Runs that ended, by Task, trigger type and phase.",
    ["namespace", "task", "trigger", "phase"], registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "taskengine_run_duration_seconds", "How long runs took, from start to end (Skipped runs excluded).",
    ["namespace", "task"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600),
)
RUNS_IN_PROGRESS = Gauge("taskengine_runs_in_progress", "Runs in progress in this process.", registry=REGISTRY)
SCHEDULE_LAG = Histogram(
    "taskengine_schedule_lag_seconds", "From a scheduled instant to its run starting.",
    registry=REGISTRY, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GROUP_RUNS = Counter(
    "taskengine_group_runs", "TaskGroup runs that ended, by phase.", ["namespace", "group", "phase"], registry=REGISTRY,
)
TRIGGER_FIRES = Counter(
    "taskengine_event_trigger_fires", "Times an EventTrigger fired (an object change or an incoming webhook).",
    ["namespace", "trigger"], registry=REGISTRY,
)
WATCH_STREAMS = Gauge("taskengine_watch_streams", "Open list+watch streams of EventTriggers.", registry=REGISTRY)
DELIVERIES = Counter(
    "taskengine_webhook_deliveries", "Outgoing webhook attempts, by Webhook and result (2xx, 4xx, 5xx or error).",
    ["namespace", "webhook", "result"], registry=REGISTRY,
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
