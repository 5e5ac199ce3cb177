"""restart: what `kubectl rollout restart` does, a new pod-template annotation."""

from __future__ import annotations

from typing import Any

from taskengine import timestamps
from taskengine.actions import _targets, base

RESTARTABLE = {("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet")}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class Restart:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        if (target["apiVersion"], target["kind"]) not in RESTARTABLE:
            raise base.ActionFailed(f"cannot restart a {target['kind']}: only Deployments, StatefulSets and DaemonSets")
        resource = await _targets.resource_of(ctx, target)
        namespace, name = _targets.coordinates(target)
        now = timestamps.rfc3339(timestamps.now())
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        await _targets.call(f"restart {target['kind']} {name}", ctx.objects.patch(resource, namespace, name, patch))
        return base.Result(f"rollout restart at {now}")
