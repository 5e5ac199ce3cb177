"""Webhooks to a real HTTP(S) receiver on 127.0.0.1, and email to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from tests import support
from tests.receivers import Receiver, Reply, SmtpServer


@pytest.fixture(autouse=True)
def _operator_runs(operator) -> None:
    """Every test here needs the operator."""


def webhook_task(cluster: support.Cluster, namespace: str, name: str, webhook: str, payload: str | None = None, **spec) -> None:
    action = {"webhookRef": webhook, **({"payload": payload} if payload is not None else {})}
    cluster.create("Task", namespace, name, {"action": {"webhook": action}, **spec})
    cluster.wait_condition("Task", namespace, name, "True")


def test_bearer_token_headers_and_json_escaped_payload(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create_secret(namespace, "slack-token", {"token": "xoxb-123"})
    cluster.create("Webhook", namespace, "slack", {
        "url": receiver.url + "/services/T0", "auth": {"type": "Bearer", "secretRef": {"name": "slack-token"}},
        "headers": {"X-Team": "ops"},
    })
    webhook_task(cluster, namespace, "notify", "slack", '{"text": "${params.what} by ${TASK}"}', params={"what": 'say "hi"'})

    result, name = cluster.run(namespace, "notify")

    assert result.returncode == 0, result.stdout
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/services/T0"
    assert request.headers["authorization"] == "Bearer xoxb-123"
    assert request.headers["x-team"] == "ops"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {"text": 'say "hi" by notify'}
    assert request.headers["webhook-id"] == request.headers["idempotency-key"] == f"{name}.run"
    log = cluster.tasklog(namespace, name)
    assert log["status"]["output"] == "HTTP 200: ok"
    assert log["status"]["deliveries"][0]["statusCode"] == 200
    delivery = cluster.get("Webhook", namespace, "slack")["status"]["lastDelivery"]
    assert delivery["statusCode"] == 200 and delivery["attempts"] == 1


def test_api_key_and_basic_auth(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.create_secret(namespace, "key", {"apiKey": "k-42"})
    cluster.create_secret(namespace, "login", {"username": "ops", "password": "pw"})
    cluster.create("Webhook", namespace, "with-key", {"url": receiver.url, "auth": {"type": "ApiKey", "header": "X-Token", "secretRef": {"name": "key"}}})
    cluster.create("Webhook", namespace, "with-login", {"url": receiver.url, "method": "PUT", "auth": {"type": "Basic", "secretRef": {"name": "login"}}})
    webhook_task(cluster, namespace, "key", "with-key")
    webhook_task(cluster, namespace, "login", "with-login")

    assert cluster.run(namespace, "key")[0].returncode == 0
    assert cluster.run(namespace, "login")[0].returncode == 0

    keyed, basic = receiver.requests
    assert keyed.headers["x-token"] == "k-42"
    assert json.loads(keyed.body)["task"] == "key"  # the default payload describes the run
    assert basic.method == "PUT"
    assert basic.headers["authorization"] == "Basic " + base64.b64encode(b"ops:pw").decode()


def test_server_errors_are_retried_with_the_same_idempotency_id(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(503), Reply(500))
    cluster.create("Webhook", namespace, "flaky", {"url": receiver.url, "retries": 3})
    webhook_task(cluster, namespace, "ping", "flaky")

    result, name = cluster.run(namespace, "ping")

    assert result.returncode == 0, result.stdout
    assert len(receiver.requests) == 3
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    deliveries = cluster.tasklog(namespace, name)["status"]["deliveries"]
    assert [d.get("statusCode") for d in deliveries] == [503, 500, 200]
    assert all("latencyMs" in d and d["idempotencyId"] == f"{name}.run" for d in deliveries)
    assert cluster.get("Webhook", namespace, "flaky")["status"]["lastDelivery"]["attempts"] == 3


def test_client_errors_are_not_retried(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(404, "no such channel"))
    cluster.create("Webhook", namespace, "wrong", {"url": receiver.url, "retries": 3})
    webhook_task(cluster, namespace, "ping", "wrong")

    result, name = cluster.run(namespace, "ping")

    assert result.returncode == 1
    assert len(receiver.requests) == 1
    status = cluster.tasklog(namespace, name)["status"]
    assert status["phase"] == "Failed" and "HTTP 404: no such channel" in status["message"]
    assert cluster.get("Webhook", namespace, "wrong")["status"]["lastDelivery"]["statusCode"] == 404


def test_each_attempt_has_its_own_timeout(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    receiver.reply(Reply(delay=6), Reply(delay=6))
    cluster.create("Webhook", namespace, "sluggish", {"url": receiver.url, "timeoutSeconds": 3, "retries": 1})
    webhook_task(cluster, namespace, "ping", "sluggish")

    result, name = cluster.run(namespace, "ping")

    assert result.returncode == 1
    status = cluster.tasklog(namespace, name)["status"]
    assert "timed out after 3s after 2 attempt(s)" in status["message"]
    assert [d["error"] for d in status["deliveries"]] == ["timed out after 3s"] * 2
    assert cluster.get("Webhook", namespace, "sluggish")["status"]["lastDelivery"]["error"] == "timed out after 3s"


def test_signing_adds_standard_webhooks_headers(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    secret = base64.b64encode(b"0123456789abcdef").decode()
    cluster.create_secret(namespace, "signing", {"secret": f"whsec_{secret}"})
    cluster.create("Webhook", namespace, "signed", {"url": receiver.url, "signing": {"secretRef": {"name": "signing", "key": "secret"}}})
    webhook_task(cluster, namespace, "ping", "signed", '{"n": 1}')

    assert cluster.run(namespace, "ping")[0].returncode == 0

    [request] = receiver.requests
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(b"0123456789abcdef", signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"


def test_self_signed_https_needs_insecure_skip_tls_verify(cluster: support.Cluster, namespace: str, https_receiver: Receiver) -> None:
    cluster.create("Webhook", namespace, "strict", {"url": https_receiver.url, "retries": 0})
    cluster.create("Webhook", namespace, "lenient", {"url": https_receiver.url, "insecureSkipTLSVerify": True})
    webhook_task(cluster, namespace, "strict", "strict")
    webhook_task(cluster, namespace, "lenient", "lenient")

    refused, refused_name = cluster.run(namespace, "strict")
    accepted, _ = cluster.run(namespace, "lenient")

    assert refused.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in cluster.tasklog(namespace, refused_name)["status"]["message"]
    assert accepted.returncode == 0, accepted.stdout
    assert len(https_receiver.requests) == 1


def test_webhook_per_tagged_target(cluster: support.Cluster, namespace: str, receiver: Receiver) -> None:
    cluster.grant(namespace, "reader", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])
    for name in ("a", "b"):
        cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": {"watch": "yes"}}})
    cluster.create("Webhook", namespace, "hook", {"url": receiver.url})
    webhook_task(cluster, namespace, "each", "hook", '{"cm": "${NAME}", "ns": "${NAMESPACE}"}', serviceAccountName="reader",
                 target={"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"watch": "yes"}}})

    assert cluster.run(namespace, "each")[0].returncode == 0

    assert sorted(json.loads(r.body)["cm"] for r in receiver.requests) == ["a", "b"]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 2


def test_email_reaches_the_smtp_server(cluster: support.Cluster, namespace: str, smtp: SmtpServer) -> None:
    cluster.create_secret(namespace, "smtp", {"host": "127.0.0.1", "port": str(smtp.port), "from": "taskengine@example.com"})
    cluster.create("Task", namespace, "mail", {
        "params": {"job": "sync-7"},
        "action": {"email": {"smtpSecretRef": "smtp", "to": ["oncall@example.com"], "cc": ["lead@example.com"],
                             "subject": "Sync error: ${params.job}", "body": "Task ${TASK} says ${params.job} failed."}},
    })
    cluster.wait_condition("Task", namespace, "mail", "True")

    result, _ = cluster.run(namespace, "mail")

    assert result.returncode == 0, result.stdout
    [mail] = smtp.mails
    assert mail.sender == "taskengine@example.com"
    assert sorted(mail.recipients) == ["lead@example.com", "oncall@example.com"]
    assert mail.subject == "Sync error: sync-7"
    assert mail.body == "Task mail says sync-7 failed."


def test_notifications_on_start_success_and_failure(cluster: support.Cluster, namespace: str, receiver: Receiver, smtp: SmtpServer) -> None:
    cluster.create_secret(namespace, "smtp", {"host": "127.0.0.1", "port": str(smtp.port), "from": "te@example.com"})
    cluster.create("Webhook", namespace, "alerts", {"url": receiver.url + "/alerts"})
    cluster.create("Webhook", namespace, "broken", {"url": receiver.url + "/broken", "retries": 0})
    notify = {
        "onStart": [{"webhookRef": "alerts", "payload": '{"stage": "${PHASE}"}'}],
        "onSuccess": [{"webhookRef": "alerts", "payload": '{"stage": "${PHASE}"}'}],
        "onFailure": [{"email": {"smtpSecretRef": "smtp", "to": ["oncall@example.com"], "subject": "${TASK} ${PHASE}"}}],
    }
    webhook_task(cluster, namespace, "good", "alerts", '{"work": true}', notify=notify)
    webhook_task(cluster, namespace, "bad", "broken", notify=notify)
    receiver.default = Reply(200)

    assert cluster.run(namespace, "good")[0].returncode == 0
    stages = [json.loads(r.body) for r in receiver.requests if r.path == "/alerts"]
    assert stages == [{"stage": "Started"}, {"work": True}, {"stage": "Succeeded"}]

    receiver.reply(Reply(200), Reply(400))  # the onStart alert passes, the action itself is refused
    assert cluster.run(namespace, "bad")[0].returncode == 1
    support.wait_for(lambda: smtp.mails, "the failure mail")
    assert smtp.mails[0].subject == "bad Failed"


def test_email_over_starttls(cluster: support.Cluster, namespace: str, tmp_path) -> None:
    server = SmtpServer(starttls_dir=tmp_path / "tls")
    try:
        cluster.create_secret(namespace, "smtp", {
            "host": "127.0.0.1", "port": str(server.port), "from": "te@example.com",
            "security": "starttls", "username": "te", "password": "pw",
        })
        cluster.create("Task", namespace, "secure-mail", {"action": {"email": {
            "smtpSecretRef": "smtp", "to": ["oncall@example.com"], "subject": "over TLS"}}})
        cluster.wait_condition("Task", namespace, "secure-mail", "True")

        result, _ = cluster.run(namespace, "secure-mail")
    finally:
        server.stop()

    assert result.returncode == 0, result.stdout
    assert [mail.subject for mail in server.mails] == ["over TLS"]
    assert server.logins == [("te", "pw")]
