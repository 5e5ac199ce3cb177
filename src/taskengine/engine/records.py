"""Writes the record of runs: TaskLogs, the Task's lastRun, Kubernetes Events, history pruning."""

from __future__ import annotations

import fnmatch
import logging
import socket
from typing import Any

from kubernetes_asyncio import client

from taskengine import timestamps
from taskengine.api import common
from taskengine.api import tasklog as tasklog_api
from taskengine.engine.occurrence import Occurrence

logger = logging.getLogger("taskengine.engine")
TASK_LABEL = "taskengine.io/task"
GROUP_LABEL = "taskengine.io/group"
TRIGGER_LABEL = "taskengine.io/trigger-type"
GROUP_RUN_LABEL = "taskengine.io/group-run"


def label_value(text: str) -> str:
    return text[:63].rstrip("-._")


class Records:
    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._instance = socket.gethostname()

    async def create_tasklog(self, occurrence: Occurrence, *, group: str | None, params: dict[str, str]) -> dict[str, Any] | None:
        """Creates the TaskLog: the commit point. None when it exists already (the occurrence ran)."""
        trigger: dict[str, Any] = {"type": occurrence.trigger_type}
        if occurrence.trigger_name:
            trigger["name"] = occurrence.trigger_name
        if occurrence.scheduled_time:
            trigger["scheduledTime"] = occurrence.scheduled_time
        if occurrence.event:
            trigger["event"] = occurrence.event
        if occurrence.missed:
            trigger["missed"] = occurrence.missed
        labels = {TASK_LABEL: label_value(occurrence.task), TRIGGER_LABEL: occurrence.trigger_type}
        if group:
            labels[GROUP_LABEL] = label_value(group)
        if occurrence.group_run:
            labels[GROUP_RUN_LABEL] = occurrence.group_run
        body = {
            "apiVersion": common.API_VERSION,
            "kind": "TaskLog",
            "metadata": {
                "name": occurrence.tasklog_name,
                "namespace": occurrence.namespace,
                "labels": labels,
                "ownerReferences": [
                    {"apiVersion": common.API_VERSION, "kind": "Task", "name": occurrence.task, "uid": occurrence.task_uid}
                ],
            },
            "spec": {"task": occurrence.task, "trigger": trigger, "params": params, **({"group": group} if group else {})},
        }
        try:
            return await self._objects.create_namespaced_custom_object(
                common.GROUP, common.VERSION, occurrence.namespace, "tasklogs", body
            )
        except client.ApiException as error:
            if error.status == 409:
                return None
            raise

    async def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._objects.patch_namespaced_custom_object_status(
            common.GROUP, common.VERSION, namespace, "tasklogs", name, {"status": status},
            _content_type="application/merge-patch+json",
        )

    async def set_last_run(self, namespace: str, task: str, last_run: dict[str, Any]) -> None:
        await self.set_task_status(namespace, task, {"lastRun": last_run})

    async def set_task_status(self, namespace: str, task: str, status: dict[str, Any]) -> None:
        """The engine's fields of a Task's status (the reconciler owns the rest)."""
        try:
            await self._objects.patch_namespaced_custom_object_status(
                common.GROUP, common.VERSION, namespace, "tasks", task, {"status": status},
                _content_type="application/merge-patch+json",
            )
        except client.ApiException as error:
            if error.status != 404:
                raise

    async def set_group_status(self, namespace: str, group: str, status: dict[str, Any]) -> None:
        """The engine's fields of a TaskGroup's status (lastRun, lastHandledRunRequest)."""
        try:
            await self._objects.patch_namespaced_custom_object_status(
                common.GROUP, common.VERSION, namespace, "taskgroups", group, {"status": status},
                _content_type="application/merge-patch+json",
            )
        except client.ApiException as error:
            if error.status != 404:
                raise

    async def event(self, task_body: dict[str, Any], *, reason: str, message: str, warning: bool = False, kind: str = "Task") -> None:
        """A Kubernetes Event on the Task or TaskGroup (what `kubectl describe` shows)."""
        metadata = task_body["metadata"]
        moment = timestamps.rfc3339(timestamps.now(), ms=True)
        body = {
            "metadata": {"generateName": f"{metadata['name'][:200]}.", "namespace": metadata["namespace"]},
            "involvedObject": {
                "apiVersion": common.API_VERSION, "kind": kind, "name": metadata["name"],
                "namespace": metadata["namespace"], "uid": metadata.get("uid"),
            },
            "reason": reason,
            "message": message[:1000],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "taskengine"},
            "reportingComponent": "taskengine.io/operator",
            "reportingInstance": self._instance,
            "firstTimestamp": moment,
            "lastTimestamp": moment,
            "count": 1,
        }
        try:
            await self._core.create_namespaced_event(metadata["namespace"], body)
        except client.ApiException as error:
            logger.warning("could not post event %s on %s %s/%s: HTTP %s", reason, kind, metadata["namespace"], metadata["name"], error.status)

    async def prune(self, namespace: str, task: str, *, successful: int, failed: int) -> None:
        """Deletes finished TaskLogs of the task beyond the history limits, oldest first."""
        listing = await self._objects.list_namespaced_custom_object(
            common.GROUP, common.VERSION, namespace, "tasklogs", label_selector=f"{TASK_LABEL}={label_value(task)}"
        )
        finished = [
            item for item in listing.get("items", [])
            if item.get("spec", {}).get("task") == task
            and (item.get("status") or {}).get("phase") in tasklog_api.FINISHED_PHASES
        ]
        finished.sort(key=lambda item: item["status"].get("startTime") or item["metadata"]["creationTimestamp"], reverse=True)
        succeeded = [item for item in finished if item["status"]["phase"] == "Succeeded"]
        others = [item for item in finished if item["status"]["phase"] != "Succeeded"]
        for item in succeeded[successful:] + others[failed:]:
            try:
                await self._objects.delete_namespaced_custom_object(
                    common.GROUP, common.VERSION, namespace, "tasklogs", item["metadata"]["name"]
                )
            except client.ApiException as error:
                if error.status != 404:
                    raise

    async def unfinished(self, namespaces: list[str]) -> list[dict[str, Any]]:
        """TaskLogs not in a final phase, in the served namespaces (names or glob patterns)."""
        items = await self.served("tasklogs", namespaces)
        return [item for item in items if (item.get("status") or {}).get("phase") not in tasklog_api.FINISHED_PHASES]

    async def served(self, plural: str, namespaces: list[str]) -> list[dict[str, Any]]:
        """Every object of one of our kinds in the served namespaces (names or glob patterns; none: all)."""
        if namespaces and not any(set(pattern) & set("*?[") for pattern in namespaces):
            items = []
            for namespace in namespaces:
                listing = await self._objects.list_namespaced_custom_object(common.GROUP, common.VERSION, namespace, plural)
                items += listing.get("items", [])
            return items
        items = (await self._objects.list_cluster_custom_object(common.GROUP, common.VERSION, plural)).get("items", [])
        return [
            item for item in items
            if not namespaces or any(fnmatch.fnmatchcase(item["metadata"]["namespace"], pattern) for pattern in namespaces)
        ]
