"""Payload variables: ${NAME}, ${params.x}, ${object.path}; JSON escaping; unknown names are errors."""

from __future__ import annotations

import datetime
import json
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskengine import variables

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sync-42", "namespace": "etl", "labels": {"team": "data"}}}


def scope(**changes) -> variables.Variables:
    base = variables.Variables(
        now=datetime.datetime(2026, 12, 24, 17, 0, tzinfo=BERLIN), task="sync-alert", run="sync-alert-e123", trigger="sync-job-failed",
        params={"channel": "#ops"},
    )
    return base.with_target(JOB) if not changes else variables.Variables(**{**base.__dict__, **changes})


def test_names_of_the_object_and_the_run() -> None:
    text = variables.expand("${KIND} ${NAMESPACE}/${NAME} in ${TASK} run ${RUN} by ${TRIGGER}", scope())

    assert text == "Job etl/sync-42 in sync-alert run sync-alert-e123 by sync-job-failed"


def test_date_is_rfc2822_in_the_zone_and_timestamp_is_epoch() -> None:
    assert variables.expand("${DATE}", scope()) == "Thu, 24 Dec 2026 17:00:00 +0100"
    assert variables.expand("${TIMESTAMP}", scope()) == "1798128000"


def test_params_object_paths_and_payload_paths() -> None:
    with_payload = scope(payload={"repo": {"name": "infra"}, "commits": [{"id": "abc"}]})

    assert variables.expand("${params.channel} ${object.metadata.labels.team}", scope()) == "#ops data"
    assert variables.expand("${payload.repo.name}@${payload.commits.0.id}", with_payload) == "infra@abc"


def test_unknown_variable_is_an_error_naming_it() -> None:
    with pytest.raises(variables.UnknownVariable) as unknown:
        variables.expand("host ${HOSTNAME} down", scope())
    assert unknown.value.name == "HOSTNAME"
    assert "${HOSTNAME}" in str(unknown.value)

    with pytest.raises(variables.UnknownVariable, match=r"\$\{params.missing\}.*parameters: channel"):
        variables.expand("${params.missing}", scope())
    with pytest.raises(variables.UnknownVariable, match=r"no field 'owner'"):
        variables.expand("${object.metadata.owner}", scope())
    with pytest.raises(variables.UnknownVariable, match="not available"):
        variables.expand("${PHASE}", scope())


def test_double_dollar_is_a_literal() -> None:
    assert variables.expand("cost: $${NAME} is $5", scope()) == "cost: ${NAME} is $5"


def test_values_are_json_escaped_inside_json() -> None:
    odd = {**JOB, "metadata": {**JOB["metadata"], "name": 'a "quoted"\nname\\'}}
    vars_ = scope().with_target(odd)

    payload = variables.expand('{"text": "${NAME} failed"}', vars_, json_escape=True)

    assert json.loads(payload) == {"text": 'a "quoted"\nname\\ failed'}


@given(st.text())
def test_any_value_survives_json_escaping(value: str) -> None:
    vars_ = scope(params={"x": value})

    assert json.loads(variables.expand('{"v": "${params.x}"}', vars_, json_escape=True)) == {"v": value}


def test_expand_all_walks_a_manifest() -> None:
    manifest = {"kind": "ConfigMap", "metadata": {"name": "${NAME}-report"}, "data": {"team": "${object.metadata.labels.team}"}}

    assert variables.expand_all(manifest, scope()) == {"kind": "ConfigMap", "metadata": {"name": "sync-42-report"}, "data": {"team": "data"}}
