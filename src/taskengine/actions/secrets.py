"""Credentials of actions (Webhook auth and signing, SMTP) from Secrets, read with the operator's rights."""

from __future__ import annotations

import base64

from kubernetes_asyncio import client

from taskengine.actions import base
from taskengine.kube import objects as objects_


async def read(api: client.ApiClient, namespace: str, name: str, redact: base.Redactor) -> dict[str, str]:
    """A Secret's data, decoded; every value is registered with the redactor first."""
    try:
        secret = await client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    except client.ApiException as error:
        raise base.ActionFailed(f'Secret "{name}": {objects_.api_error_message(error)}') from None
    data = {key: base64.b64decode(value).decode(errors="replace") for key, value in (secret.data or {}).items()}
    for value in data.values():
        redact.add(value)
    return data


def value(data: dict[str, str], key: str, secret: str) -> str:
    if key not in data:
        raise base.ActionFailed(f'Secret "{secret}" has no key "{key}"')
    return data[key]
