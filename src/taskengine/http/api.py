"""The REST API: run Tasks and TaskGroups, read their runs, as a Kubernetes user.

Callers authenticate with a Kubernetes bearer token (a ServiceAccount's, or a user's), which
the API server checks (TokenReview); what they may do is what RBAC lets them do
(SubjectAccessReview): starting a run needs `patch` on the Task or TaskGroup, as
`taskengine run` does; reading runs needs `list` on tasklogs. The operator lends no rights.

    POST /api/v1/namespaces/{namespace}/tasks/{name}/runs        {"params": {...}}  -> 202
    POST /api/v1/namespaces/{namespace}/taskgroups/{name}/runs   {"params": {...}}  -> 202
    GET  /api/v1/namespaces/{namespace}/tasks/{name}/runs                           -> 200
    GET  /api/v1/namespaces/{namespace}/overview     (tasks, groups and their graphs, triggers) -> 200
    GET  /dashboard                                  (a page on top of these; it asks for the token)

An `Idempotency-Key` header makes a retried POST start the run only once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from kubernetes_asyncio import client

from taskengine.api import common
from taskengine.engine.groups import GroupOccurrence
from taskengine.engine.occurrence import Occurrence
from taskengine.engine.records import TASK_LABEL, label_value
from taskengine.kube import objects as objects_
from taskengine.reconcile import catalog as catalog_
from taskengine.reconcile.catalog import Key

logger = logging.getLogger("taskengine.http")
PREFIX = "/api/v1/namespaces/{namespace}"
PLURALS = {"tasks": "Task", "taskgroups": "TaskGroup"}
DASHBOARD = pathlib.Path(__file__).with_name("dashboard.html")


@dataclasses.dataclass(frozen=True)
class Caller:
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


def add_routes(
    app: web.Application,
    *,
    catalog: catalog_.Catalog,
    api: client.ApiClient,
    submit: Callable[[Occurrence], Awaitable[str | None]],
    submit_group: Callable[[GroupOccurrence], Awaitable[str | None]],
) -> None:
    authentication = client.AuthenticationV1Api(api)
    authorization = client.AuthorizationV1Api(api)
    objects = client.CustomObjectsApi(api)

    async def caller_of(request: web.Request) -> Caller | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return None
        review = await authentication.create_token_review({"spec": {"token": header[7:].strip()}})
        if not review.status or not review.status.authenticated:
            return None
        user = review.status.user
        return Caller(user.username, user.uid or "", user.groups or [], user.extra or {})

    async def allowed(caller: Caller, verb: str, resource: str, namespace: str, name: str | None = None) -> bool:
        attributes = {"group": common.GROUP, "resource": resource, "verb": verb, "namespace": namespace}
        if name:
            attributes["name"] = name
        review = await authorization.create_subject_access_review({"spec": {
            "user": caller.username, "uid": caller.uid, "groups": caller.groups, "extra": caller.extra,
            "resourceAttributes": attributes,
        }})
        return bool(review.status and review.status.allowed)

    async def guard(request: web.Request, verb: str, resource: str, name: str | None) -> Caller | web.Response:
        namespace = request.match_info["namespace"]
        try:
            caller = await caller_of(request)
            permitted = caller is not None and await allowed(caller, verb, resource, namespace, name)
        except client.ApiException as error:  # the operator's own RBAC lacks tokenreviews or subjectaccessreviews
            logger.error("REST API: checking the caller failed: %s", objects_.api_error_message(error))
            return _error(503, f"the operator could not check the caller: {objects_.api_error_message(error)}")
        if caller is None:
            return _error(401, "send a Kubernetes bearer token: Authorization: Bearer <token>")
        if not permitted:
            what = f'{resource}.{common.GROUP} "{name}"' if name else f"{resource}.{common.GROUP}"
            return _error(403, f'{caller.username} may not {verb} {what} in namespace "{namespace}"')
        return caller

    async def start_run(request: web.Request) -> web.Response:
        namespace, name, plural = request.match_info["namespace"], request.match_info["name"], request.match_info["plural"]
        caller = await guard(request, "patch", plural, name)
        if isinstance(caller, web.Response):
            return caller
        entry = catalog.get(Key(PLURALS[plural], namespace, name))
        if entry is None:
            return _error(404, f'{PLURALS[plural]} "{name}" not found in namespace "{namespace}"')
        if entry.model is None:
            return _error(409, f'{PLURALS[plural]} "{name}" is not valid: see its Ready condition')
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _error(400, "the body is not JSON")
        params = body.get("params") if isinstance(body, dict) else None
        if params is not None and not isinstance(params, dict):
            return _error(400, "params: expected an object of strings")
        params = {str(k): str(v) for k, v in (params or {}).items()}
        key = request.headers.get("Idempotency-Key")
        cause = f"api:{caller.username}:{key}" if key else f"api:{uuid.uuid4()}"
        if plural == "tasks":
            occurrence = Occurrence(namespace=namespace, task=name, task_uid=entry.uid, trigger_type="Api",
                                    trigger_name=caller.username, cause=cause, params=params)
            await submit(occurrence)
            return web.json_response({"taskLog": occurrence.tasklog_name}, status=202)
        group_occurrence = GroupOccurrence(namespace=namespace, group=name, group_uid=entry.uid, trigger_type="Api",
                                           trigger_name=caller.username, cause=cause, params=params)
        await submit_group(group_occurrence)
        return web.json_response({"groupRun": group_occurrence.run_name}, status=202)

    async def list_runs(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        caller = await guard(request, "list", "tasklogs", None)
        if isinstance(caller, web.Response):
            return caller
        listing = await objects.list_namespaced_custom_object(
            common.GROUP, common.VERSION, namespace, "tasklogs", label_selector=f"{TASK_LABEL}={label_value(name)}"
        )
        runs = [_summary(item) for item in listing.get("items", []) if item.get("spec", {}).get("task") == name]
        runs.sort(key=lambda run: run["created"], reverse=True)
        return web.json_response({"task": name, "runs": runs})

    async def overview(request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        caller = await guard(request, "list", "tasks", None)
        if isinstance(caller, web.Response):
            return caller
        return web.json_response(_overview(catalog, namespace))

    async def dashboard(request: web.Request) -> web.Response:
        return web.Response(text=DASHBOARD.read_text(), content_type="text/html")

    app.router.add_post(PREFIX + "/{plural:tasks|taskgroups}/{name}/runs", start_run)
    app.router.add_get(PREFIX + "/tasks/{name}/runs", list_runs)
    app.router.add_get(PREFIX + "/overview", overview)
    app.router.add_get("/dashboard", dashboard)


def _overview(catalog: catalog_.Catalog, namespace: str) -> dict[str, Any]:
    """What the dashboard shows of a namespace, from the operator's catalog (spec and status as last seen)."""

    def ready(entry: catalog_.Entry) -> dict[str, Any]:
        condition = next((c for c in entry.status.get("conditions") or [] if c.get("type") == "Ready"), {})
        return {"status": condition.get("status", "Unknown"), "reason": condition.get("reason"), "message": condition.get("message")}

    def of(kind: str) -> list[catalog_.Entry]:
        return sorted((e for e in catalog.entries(kind) if e.key.namespace == namespace), key=lambda e: e.key.name)

    return {
        "namespace": namespace,
        "tasks": [{
            "name": e.key.name, "phase": e.status.get("phase"), "ready": ready(e), "group": e.spec.get("group"),
            "action": next(iter(e.spec.get("action") or {}), None), "lastRun": e.status.get("lastRun"),
            "nextRunTime": e.status.get("nextRunTime"),
        } for e in of("Task")],
        "groups": [{
            "name": e.key.name, "phase": e.status.get("phase"), "ready": ready(e), "lastRun": e.status.get("lastRun"),
            "graph": e.status.get("graph") or {"nodes": [], "edges": []},
        } for e in of("TaskGroup")],
        "schedules": [{"name": e.key.name, "ready": ready(e), "nextFireTime": e.status.get("nextFireTime")} for e in of("Schedule")],
        "eventTriggers": [{
            "name": e.key.name, "ready": ready(e), "triggerCount": e.status.get("triggerCount", 0), "lastTriggered": e.status.get("lastTriggered"),
        } for e in of("EventTrigger")],
    }


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    status = item.get("status") or {}
    trigger = item.get("spec", {}).get("trigger") or {}
    return {
        "taskLog": item["metadata"]["name"], "created": item["metadata"].get("creationTimestamp"),
        "trigger": {"type": trigger.get("type"), "name": trigger.get("name")},
        **{field: status.get(field) for field in ("phase", "reason", "message", "startTime", "completionTime", "durationSeconds")},
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
