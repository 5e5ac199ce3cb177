"""Incoming webhooks: `POST /hooks/{namespace}/{trigger}` fires an EventTrigger with `spec.webhook`.

Authentication is the Secret key the trigger names: either `Authorization: Bearer <value>`,
or `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body keyed with the value>` (GitHub's
scheme). 401 without valid auth, 404 for an unknown trigger, 413 for a body over the limit.
The JSON body is `${payload.<path>}` in templates, and its `params` object (if any) sets Task
params. An `Idempotency-Key` header makes a retried call run only once: the TaskLog name
derives from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from kubernetes_asyncio import client

from taskengine import metrics
from taskengine.reconcile import catalog as catalog_
from taskengine.reconcile.catalog import Key

logger = logging.getLogger("taskengine.http")
MAX_BODY_BYTES = 1024 * 1024

# (trigger, cause, payload, params) -> TaskLog names of the runs it started
Fire = Callable[[catalog_.Entry, str, Any, dict[str, str]], Awaitable[list[str]]]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def exposition(request: web.Request) -> web.Response:
    """Prometheus metrics (see taskengine.metrics)."""
    return web.Response(body=metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})


def application(*, catalog: catalog_.Catalog, api: client.ApiClient, fire: Fire) -> web.Application:
    core = client.CoreV1Api(api)

    async def secret_value(namespace: str, name: str, key: str) -> str | None:
        try:
            secret = await core.read_namespaced_secret(name, namespace)
        except client.ApiException:
            return None
        value = (secret.data or {}).get(key)
        return base64.b64decode(value).decode(errors="replace") if value else None

    async def hook(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["trigger"]
        entry = catalog.get(Key("EventTrigger", namespace, name))
        if entry is None or entry.model is None or entry.model.webhook is None:
            return web.json_response({"error": f'no webhook EventTrigger "{name}" in namespace "{namespace}"'}, status=404)
        body = await request.read()  # over client_max_size: aiohttp answers 413
        ref = entry.model.webhook.secret_ref
        expected = await secret_value(namespace, ref.name, ref.key)
        if not expected or not _authorized(request, body, expected):
            return web.json_response({"error": "missing or invalid credentials"}, status=401)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        params = payload.get("params") if isinstance(payload, dict) else None
        params = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
        key = request.headers.get("Idempotency-Key")
        cause = f"key:{key}" if key else f"request:{uuid.uuid4()}"
        runs = await fire(entry, cause, payload, params)
        return web.json_response({"trigger": name, "runs": runs}, status=202)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/hooks/{namespace}/{trigger}", hook)
    app.router.add_get("/metrics", exposition)
    return app


def _authorized(request: web.Request, body: bytes, secret: str) -> bool:
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(), secret.encode()):
        return True
    signed = request.headers.get("X-Hub-Signature-256", "")
    return bool(signed) and hmac.compare_digest(signed.encode(), signature(secret, body).encode())


async def serve(app: web.Application, *, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    logger.info("serving incoming webhooks, the REST API and /metrics on port %d", port)
    return runner
