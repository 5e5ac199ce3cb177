"""The operator's async API clients (kubernetes_asyncio), configured like kubectl.

`Clients` holds the operator's own client and, per ServiceAccount, an impersonating one:
actions run as the Task's ServiceAccount, so a tenant can never borrow the operator's rights.
"""

from __future__ import annotations

import copy
import os

from kubernetes_asyncio import client, config


async def load_configuration() -> client.Configuration:
    """From $KUBECONFIG / ~/.kube/config, or the in-cluster ServiceAccount."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        # read $KUBECONFIG now: the library's default was fixed when it was imported
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration)
    return configuration


class Clients:
    def __init__(self, configuration: client.Configuration) -> None:
        self._configuration = configuration
        self.operator = client.ApiClient(copy.copy(configuration))
        self._impersonating: dict[tuple[str, str], client.ApiClient] = {}

    def as_service_account(self, namespace: str, name: str) -> client.ApiClient:
        """A client whose every request is made as system:serviceaccount:<namespace>:<name>.

        The API server adds the account's groups (system:serviceaccounts, ...) itself.
        """
        key = (namespace, name)
        if key not in self._impersonating:
            api = client.ApiClient(copy.copy(self._configuration))
            api.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:{name}")
            self._impersonating[key] = api
        return self._impersonating[key]

    async def close(self) -> None:
        for api in [self.operator, *self._impersonating.values()]:
            await api.close()
        self._impersonating.clear()


async def connect() -> Clients:
    return Clients(await load_configuration())
