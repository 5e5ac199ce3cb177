"""email: a plain-text mail through the SMTP server described by a Secret.

The Secret holds host, port, from, and optionally username, password and security
(starttls, tls or none; default starttls when a username is set, else none).
"""

from __future__ import annotations

import asyncio
import email.message
import smtplib
from typing import Any

from taskengine.actions import base, secrets
from taskengine.api import task as task_api
from taskengine import variables

TIMEOUT_SECONDS = 30


async def send(ctx: base.RunContext, spec: task_api.EmailAction, vars_: variables.Variables) -> base.Result:
    settings = await secrets.read(ctx.operator_api, ctx.namespace, spec.smtp_secret_ref, ctx.redact)
    host = secrets.value(settings, "host", spec.smtp_secret_ref)
    sender = secrets.value(settings, "from", spec.smtp_secret_ref)
    port = int(settings.get("port") or 25)
    username, password = settings.get("username"), settings.get("password")
    security = (settings.get("security") or ("starttls" if username else "none")).lower()
    if security not in ("starttls", "tls", "none"):
        raise base.ActionFailed(f'Secret "{spec.smtp_secret_ref}": security must be starttls, tls or none, not "{security}"')

    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(spec.to)
    if spec.cc:
        message["Cc"] = ", ".join(spec.cc)
    message["Subject"] = variables.expand(spec.subject, vars_)
    message["Message-ID"] = f"<{ctx.run_name}@taskengine>"
    message.set_content(variables.expand(spec.body, vars_))

    def deliver() -> None:
        connection = smtplib.SMTP_SSL if security == "tls" else smtplib.SMTP
        with connection(host, port, timeout=TIMEOUT_SECONDS) as smtp:
            if security == "starttls":
                smtp.starttls()
            if username:
                smtp.login(username, password or "")
            smtp.send_message(message)

    try:
        await asyncio.to_thread(deliver)
    except (OSError, smtplib.SMTPException) as error:
        raise base.ActionFailed(ctx.redact(f"email via {host}:{port}: {type(error).__name__}: {error}")) from None
    recipients = ", ".join([*spec.to, *spec.cc])
    return base.Result(f"mailed {recipients}", output=f"sent \"{message['Subject']}\" to {recipients}")


class Email:
    async def perform(self, ctx: base.RunContext, target: dict[str, Any] | None) -> base.Result:
        scope = ctx.variables.with_target(target) if target else ctx.variables
        return await send(ctx, ctx.task.action.email, scope)
