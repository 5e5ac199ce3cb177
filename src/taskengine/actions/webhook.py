"""webhook: deliver a payload to a Webhook, with auth, signing, retries; also used for alerts.

Every delivery carries an idempotency id (the TaskLog name and the target) in `webhook-id`
and `Idempotency-Key`, identical across retries, so a receiver can drop a retry it already
processed. Retries happen on connection errors, timeouts and 5xx, never on 4xx: a 4xx will
not get better by asking again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from kubernetes_asyncio import client

from taskengine import metrics, timestamps, variables
from taskengine.actions import base, secrets
from taskengine.api import common
from taskengine.api import webhook as webhook_api
from taskengine.kube import objects as objects_

BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
EXCERPT = 200


class HttpClients:
    """The operator's shared connection pools: one verifying TLS, one not (insecureSkipTLSVerify)."""

    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self._verifying = httpx.AsyncClient(limits=limits, follow_redirects=False)
        self._insecure = httpx.AsyncClient(limits=limits, follow_redirects=False, verify=False)

    def get(self, *, verify: bool) -> httpx.AsyncClient:
        return self._verifying if verify else self._insecure

    async def close(self) -> None:
        await self._verifying.aclose()
        await self._insecure.aclose()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature: v1,base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def default_payload(vars_: variables.Variables) -> str:
    document = {"task": vars_.task, "run": vars_.run, "trigger": vars_.trigger}
    for field in ("name", "namespace", "kind", "event", "phase"):
        if getattr(vars_, field):
            document[field] = getattr(vars_, field)
    return json.dumps(document)


async def deliver(
    ctx: base.RunContext, webhook_name: str, template: str | None, vars_: variables.Variables, idempotency_id: str
) -> base.Result:
    """One delivery (with its retries) to the Webhook `webhook_name` of the Task's namespace."""
    objects = client.CustomObjectsApi(ctx.operator_api)
    try:
        body = await objects.get_namespaced_custom_object(common.GROUP, common.VERSION, ctx.namespace, "webhooks", webhook_name)
    except client.ApiException as error:
        raise base.ActionFailed(f'Webhook "{webhook_name}": {objects_.api_error_message(error)}') from None
    spec = webhook_api.WebhookSpec.model_validate(body.get("spec") or {})

    headers = {key.lower(): value for key, value in spec.headers.items()}
    if template is None:
        payload = default_payload(vars_)
    else:
        as_json = variables.looks_like_json(template) or "json" in headers.get("content-type", "")
        payload = variables.expand(template, vars_, json_escape=as_json)
    if variables.looks_like_json(payload):
        headers.setdefault("content-type", "application/json")
    headers["webhook-id"] = idempotency_id
    headers["idempotency-key"] = idempotency_id
    auth = None
    if spec.auth.type != "None":
        data = await secrets.read(ctx.operator_api, ctx.namespace, spec.auth.secret_ref.name, ctx.redact)
        secret = spec.auth.secret_ref.name
        if spec.auth.type == "Bearer":
            headers["authorization"] = "Bearer " + secrets.value(data, "token", secret)
        elif spec.auth.type == "ApiKey":
            headers[spec.auth.header.lower()] = secrets.value(data, "apiKey", secret)
        else:
            auth = httpx.BasicAuth(secrets.value(data, "username", secret), secrets.value(data, "password", secret))
            ctx.redact.add(base64.b64encode(f"{data['username']}:{data['password']}".encode()).decode())
    signing_secret = None
    if spec.signing:
        data = await secrets.read(ctx.operator_api, ctx.namespace, spec.signing.secret_ref.name, ctx.redact)
        signing_secret = secrets.value(data, spec.signing.secret_ref.key, spec.signing.secret_ref.name)

    content = payload.encode()
    http = ctx.http.get(verify=not spec.insecure_skip_tls_verify)
    response: httpx.Response | None = None
    for attempt in range(1, spec.retries + 2):
        if attempt > 1:
            await asyncio.sleep(min(BACKOFF_SECONDS * 2 ** (attempt - 2), MAX_BACKOFF_SECONDS))
        if signing_secret is not None:
            timestamp = int(time.time())
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = sign(signing_secret, idempotency_id, timestamp, content)
        record = base.Delivery(time=timestamps.rfc3339(timestamps.now(), ms=True), idempotency_id=idempotency_id)
        ctx.deliveries.append(record)
        started = time.monotonic()
        try:
            response = await http.request(
                spec.method, spec.url, content=content if spec.method != "GET" else None,
                headers=headers, auth=auth, timeout=spec.timeout_seconds,
            )
        except httpx.TimeoutException:
            response, record.error = None, f"timed out after {spec.timeout_seconds}s"
        except httpx.HTTPError as error:
            response, record.error = None, ctx.redact(f"{type(error).__name__}: {error}")
        record.latency_ms = int((time.monotonic() - started) * 1000)
        if response is not None:
            record.status_code = response.status_code
        metrics.DELIVERIES.labels(ctx.namespace, webhook_name, f"{response.status_code // 100}xx" if response is not None else "error").inc()
        if response is not None:
            if response.status_code < 500:
                break
            record.error = f"HTTP {response.status_code}"

    status_code = response.status_code if response is not None else None
    await _record_delivery(ctx, webhook_name, status_code, attempt, record.error)
    if response is None:
        raise base.ActionFailed(f"webhook {webhook_name}: {record.error} after {attempt} attempt(s)")
    excerpt = ctx.redact(response.text)[:EXCERPT]  # redact first: a cut could split a secret
    output = f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
    if response.status_code >= 400:
        raise base.ActionFailed(f"webhook {webhook_name}: {output} after {attempt} attempt(s)")
    return base.Result(f"delivered to {webhook_name}: HTTP {response.status_code}", output=output)


async def _record_delivery(ctx: base.RunContext, name: str, status_code: int | None, attempts: int, error: str | None) -> None:
    delivery = {"time": timestamps.rfc3339(timestamps.now()), "statusCode": status_code, "attempts": attempts, "error": error}
    try:
        await client.CustomObjectsApi(ctx.operator_api).patch_namespaced_custom_object_status(
            common.GROUP, common.VERSION, ctx.namespace, "webhooks", name, {"status": {"lastDelivery": delivery}},
            _content_type="application/merge-patch+json",
        )
    except client.ApiException:
        pass  # the Webhook may be gone; the TaskLog still has every attempt


class Webhook:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        spec = ctx.task.action.webhook
        scope = ctx.variables.with_target(target) if target else ctx.variables
        target_id = f"{target['metadata'].get('namespace', '')}.{target['metadata']['name']}" if target else "run"
        return await deliver(ctx, spec.webhook_ref, spec.payload, scope, f"{ctx.run_name}.{target_id}")
