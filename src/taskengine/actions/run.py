"""run: a container as a Job; the run succeeds when the Job is Complete and fails when it is Failed.

The Job is owned by the TaskLog (deleting the TaskLog deletes it) and runs as the Task's
ServiceAccount. A run that times out or is terminated deletes its Job.
"""

from __future__ import annotations

import asyncio
from typing import Any

from taskengine.actions import _targets, base
from taskengine import variables

POLL_SECONDS = 0.5
JOB = {"apiVersion": "batch/v1", "kind": "Job"}


def job_name(run_name: str, attempt: int) -> str:
    suffix = f"-{attempt}"
    if len(run_name) + len(suffix) <= 63:
        return run_name + suffix
    return run_name[: 63 - 12 - len(suffix)].rstrip("-.") + "-" + run_name[-11:] + suffix


class Run:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        spec = ctx.task.action.run
        scope = ctx.variables.with_target(target) if target else ctx.variables
        resource = await _targets.resource_of(ctx, JOB)
        name = job_name(ctx.run_name, ctx.attempt)
        container: dict[str, Any] = {"name": "task", "image": spec.image}
        if spec.command:
            container["command"] = [variables.expand(part, scope) for part in spec.command]
        if spec.args:
            container["args"] = [variables.expand(part, scope) for part in spec.args]
        if spec.env:
            container["env"] = [{"name": e.name, "value": variables.expand(e.value, scope)} for e in spec.env]
        job = {
            **JOB,
            "metadata": {
                "name": name,
                "namespace": ctx.namespace,
                "labels": {"taskengine.io/task": ctx.variables.task[:63], "taskengine.io/run": ctx.run_name[:63]},
                "ownerReferences": [
                    {"apiVersion": "taskengine.io/v1alpha1", "kind": "TaskLog", "name": ctx.run_name, "uid": ctx.run_uid}
                ],
            },
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {"taskengine.io/run": ctx.run_name[:63]}},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": ctx.task.service_account_name,
                        "containers": [container],
                    },
                },
            },
        }
        await _targets.call(f"create Job {name}", ctx.objects.create(resource, ctx.namespace, job))
        try:
            while True:
                current = await _targets.call(f"read Job {name}", ctx.objects.get(resource, ctx.namespace, name))
                for condition in (current.get("status") or {}).get("conditions") or []:
                    if condition.get("status") != "True":
                        continue
                    detail = ": ".join(filter(None, [condition.get("reason"), condition.get("message")]))
                    if condition.get("type") == "Complete":
                        return base.Result(f"Job {name} completed", output=f"Job {name} Complete")
                    if condition.get("type") == "Failed":
                        raise base.ActionFailed(f"Job {name} failed" + (f": {detail}" if detail else ""))
                await asyncio.sleep(POLL_SECONDS)
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(ctx, resource, name))
            raise

    @staticmethod
    async def _stop(ctx: base.RunContext, resource: Any, name: str) -> None:
        try:
            await ctx.objects.delete(resource, ctx.namespace, name, propagation="Background")
        except Exception:  # noqa: BLE001 - best effort; the TaskLog says the run was stopped
            pass
