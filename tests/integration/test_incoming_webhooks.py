"""Incoming webhooks: an authenticated POST runs the trigger's Tasks with the body as payload."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from tests import support
from tests.receivers import Receiver

TOKEN = "in-hook-token-123"


@pytest.fixture
def hook(cluster: support.Cluster, namespace: str, operator, receiver: Receiver) -> str:
    cluster.create_secret(namespace, "hook-secret", {"token": TOKEN})
    cluster.create("EventTrigger", namespace, "deploy-done", {"webhook": {"secretRef": {"name": "hook-secret"}}})
    cluster.create("Webhook", namespace, "out", {"url": receiver.url, "retries": 0})
    cluster.create("Task", namespace, "announce", {
        "params": {"env": "staging"},
        "action": {"webhook": {"webhookRef": "out", "payload": '{"repo": "${payload.repository.name}", "env": "${params.env}"}'}},
        "triggers": [{"event": "deploy-done"}],
    })
    cluster.wait_condition("Task", namespace, "announce", "True")
    cluster.wait_condition("EventTrigger", namespace, "deploy-done", "True")
    return f"{operator.url}/hooks/{namespace}/deploy-done"


def test_bearer_call_runs_the_task_with_the_payload(cluster: support.Cluster, namespace: str, hook: str, receiver: Receiver) -> None:
    body = {"repository": {"name": "infra"}, "params": {"env": "prod"}}

    response = httpx.post(hook, json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 202, response.text
    [run] = response.json()["runs"]
    log = cluster.wait_phase(namespace, run, *support.FINISHED)
    assert log["status"]["phase"] == "Succeeded"
    assert log["spec"]["trigger"] == {"type": "Webhook", "name": "deploy-done"}
    assert log["spec"]["params"] == {"env": "prod"}
    assert json.loads(receiver.requests[0].body) == {"repo": "infra", "env": "prod"}
    assert cluster.get("EventTrigger", namespace, "deploy-done")["status"]["triggerCount"] == 1


def test_signed_call_and_idempotency_key(cluster: support.Cluster, namespace: str, hook: str, receiver: Receiver) -> None:
    body = json.dumps({"repository": {"name": "web"}}).encode()
    signed = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signed, "Idempotency-Key": "delivery-7", "Content-Type": "application/json"}

    first = httpx.post(hook, content=body, headers=headers)
    again = httpx.post(hook, content=body, headers=headers)

    assert first.status_code == again.status_code == 202
    assert first.json()["runs"] == again.json()["runs"]
    cluster.wait_phase(namespace, first.json()["runs"][0], *support.FINISHED)
    assert len(cluster.tasklogs(namespace, "announce")) == 1
    assert len(receiver.requests) == 1


def test_refusals(cluster: support.Cluster, namespace: str, hook: str, operator) -> None:
    assert httpx.post(hook, json={}).status_code == 401
    assert httpx.post(hook, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(hook, json={}, headers={"X-Hub-Signature-256": "sha256=00"}).status_code == 401
    assert httpx.post(f"{operator.url}/hooks/{namespace}/nope", json={}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    too_big = httpx.post(hook, content=b"x" * (2 * 1024 * 1024), headers={"Authorization": f"Bearer {TOKEN}"})
    assert too_big.status_code == 413
    assert cluster.tasklogs(namespace, "announce") == []
