"""The API models parse what users write, apply the documented defaults, and speak the API server's language."""

from __future__ import annotations

import pydantic
import pytest

from taskengine.api import common, eventtrigger, schedule, task, tasklog, webhook
from taskengine.reconcile import checks


def test_task_defaults_are_the_documented_ones() -> None:
    spec = task.TaskSpec.model_validate({"action": {"webhook": {"webhookRef": "slack"}}})

    assert spec.enabled is True
    assert spec.timeout_seconds == 1800
    assert spec.concurrency_policy == "Allow"
    assert spec.run_if == "Succeeded"
    assert spec.service_account_name == "default"
    assert spec.history.successful_limit == 10 and spec.history.failed_limit == 10
    assert spec.retries.limit == 0
    assert spec.action.kind == "webhook"


def test_selector_becomes_a_label_selector_query() -> None:
    selector = common.LabelSelector.model_validate({
        "matchLabels": {"tier": "gpu", "owner": "jthompson"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["dev", "test"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    })

    assert selector.to_query() == "owner=jthompson,tier=gpu,env in (dev,test),!legacy"


def test_reserved_words_use_their_wire_names() -> None:
    when = eventtrigger.When.model_validate({"fieldPath": ".status.phase", "in": ["Failed", "Unknown"]})
    trigger = eventtrigger.EventTriggerSpec.model_validate({"webhook": {"secretRef": {"name": "t"}}, "for": "5m"})

    assert when.in_ == ["Failed", "Unknown"]
    assert trigger.for_ == "5m"
    assert trigger.webhook.secret_ref.key == "token"
    assert trigger.events == ["Created", "Updated", "Deleted"]


def test_invalid_spec_becomes_problems_naming_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as invalid:
        webhook.WebhookSpec.model_validate({"url": "https://x.invalid", "timeoutSeconds": 1})

    problems = checks.spec_errors(invalid.value)

    assert [p.reason for p in problems] == ["InvalidSpec"]
    assert problems[0].message.startswith("spec.timeoutSeconds: ")


def test_schedule_spec_accepts_each_form() -> None:
    assert schedule.ScheduleSpec.model_validate({"cron": "@weekly"}).time_zone == "UTC"
    assert schedule.ScheduleSpec.model_validate({"every": {"unit": "Weeks", "daysOfWeek": ["Friday"], "at": "18:00"}}).every.interval == 1
    assert schedule.ScheduleSpec.model_validate({"at": "2026-12-24T17:00:00"}).starting_deadline_seconds == 300


def test_tasklog_phases_are_the_contracts() -> None:
    phases = tasklog.TaskLogStatus.model_json_schema(by_alias=True)["properties"]["phase"]["anyOf"][0]["enum"]

    assert phases == ["Triggered", "Started", "Running", "Succeeded", "Failed", "Terminated", "Skipped"]


def test_selector_matches_labels_like_the_api_server() -> None:
    selector = common.LabelSelector.model_validate({
        "matchLabels": {"app": "sync"},
        "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["test"]}, {"key": "legacy", "operator": "DoesNotExist"}],
    })

    assert selector.matches({"app": "sync"})
    assert selector.matches({"app": "sync", "env": "prod"})
    assert not selector.matches({"app": "sync", "env": "test"})
    assert not selector.matches({"app": "sync", "legacy": "1"})
    assert not selector.matches({"app": "web"})
