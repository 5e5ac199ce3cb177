"""The operator's async API client (kubernetes_asyncio), configured like kubectl."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config


async def connect() -> client.ApiClient:
    """An ApiClient from $KUBECONFIG / ~/.kube/config, or the in-cluster ServiceAccount."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()
        return client.ApiClient()
    configuration = client.Configuration()
    await config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)
