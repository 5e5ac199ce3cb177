"""The rules of a group run that need no cluster: when a member runs, how the run ends, its name."""

from __future__ import annotations

import pytest

from taskengine.engine import groups


@pytest.mark.parametrize(("run_if", "dependencies", "runs"), [
    ("Succeeded", {"a": "Succeeded", "b": "Succeeded"}, True),
    ("Succeeded", {"a": "Succeeded", "b": "Skipped"}, False),
    ("Succeeded", {"a": "Failed"}, False),
    ("Failed", {"a": "Succeeded", "b": "Failed"}, True),
    ("Failed", {"a": "Terminated"}, True),
    ("Failed", {"a": "Succeeded", "b": "Skipped"}, False),
    ("Always", {"a": "Failed", "b": "Skipped"}, True),
    ("Succeeded", {}, True),
])
def test_a_member_runs_when_its_run_if_holds(run_if: str, dependencies: dict[str, str], runs: bool) -> None:
    assert (groups.unmet(run_if, dependencies) is None) is runs


def test_the_reason_for_not_running_names_the_dependencies() -> None:
    reason, message = groups.unmet("Succeeded", {"extract": "Failed", "clean": "Succeeded"})

    assert reason == "DependencyNotSucceeded"
    assert "clean Succeeded, extract Failed" in message


@pytest.mark.parametrize(("results", "phase"), [
    ({"a": "Succeeded", "b": "Skipped"}, "Succeeded"),
    ({"a": "Succeeded", "b": "Failed", "c": "Succeeded"}, "Failed"),
    ({"a": "Terminated"}, "Failed"),
    ({"a": "Skipped", "b": "Skipped"}, "Skipped"),
])
def test_a_group_run_fails_when_any_member_failed(results: dict[str, str], phase: str) -> None:
    assert groups.outcome(results)[0] == phase


def test_the_outcome_counts_phases_and_names_the_failed() -> None:
    assert groups.outcome({"a": "Succeeded", "b": "Failed", "c": "Failed", "d": "Skipped"}) == (
        "Failed", "2 Failed, 1 Skipped, 1 Succeeded; failed: b, c",
    )


def test_the_same_cause_gives_the_same_run_and_member_names() -> None:
    def occurrence(cause: str) -> groups.GroupOccurrence:
        return groups.GroupOccurrence(namespace="ops", group="nightly", group_uid="uid-1", trigger_type="Schedule", cause=cause)

    first, again, later = occurrence("2026-11-27T17:00:00Z"), occurrence("2026-11-27T17:00:00Z"), occurrence("2026-11-28T17:00:00Z")
    task = groups.Member("load", "uid-9")

    assert first.run_name == again.run_name != later.run_name
    assert first.run_name.startswith("nightly-")
    assert first.member(task, dependent=True, skip=None).tasklog_name == again.member(task, dependent=True, skip=None).tasklog_name
    assert first.member(task, dependent=True, skip=None).tasklog_name != later.member(task, dependent=True, skip=None).tasklog_name
    assert first.member(task, dependent=False, skip=None).trigger_type == "Schedule"
    assert first.member(task, dependent=True, skip=None).trigger_type == "Dependency"
