"""Installing taskengine's CRDs into a cluster (the dev control plane, tests, `taskengine install`)."""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import yaml

from taskengine.api import crdgen


def documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(text) for text in crdgen.rendered_files().values()]


def install(api_client: kubernetes.client.ApiClient, *, timeout: float = 60) -> None:
    """Creates or updates every CRD and waits until the API server serves them."""
    api = kubernetes.client.ApiextensionsV1Api(api_client)
    names = []
    for crd in documents():
        name = crd["metadata"]["name"]
        names.append(name)
        try:
            current = api.read_custom_resource_definition(name)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
            api.create_custom_resource_definition(crd)
        else:
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            api.replace_custom_resource_definition(name, crd)
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            conditions = api.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not established after {timeout:.0f}s: {sorted(pending)}")
        if pending:
            time.sleep(0.2)
