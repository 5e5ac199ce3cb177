"""Action kind -> implementation."""

from __future__ import annotations

from taskengine.actions import base, create, delete, email, patch, restart, run, scale, webhook

ACTIONS: dict[str, base.Action] = {
    "scale": scale.Scale(),
    "patch": patch.Patch(),
    "delete": delete.Delete(),
    "restart": restart.Restart(),
    "create": create.Create(),
    "run": run.Run(),
    "webhook": webhook.Webhook(),
    "email": email.Email(),
}
