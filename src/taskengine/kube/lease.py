"""Leader election with a coordination.k8s.io Lease: one replica works, the others stand by.

The election itself is kubernetes_asyncio's (the port of client-go's leader election): a
candidate takes the Lease when it is free or has not been renewed for its duration, and the
holder renews it; a holder that cannot renew within the renew deadline stops leading. Here it
is wrapped for the operator: wait until leading, notice the loss, hand the Lease over at once
on a clean shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import socket
import uuid

from kubernetes_asyncio import client
from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
from kubernetes_asyncio.leaderelection.resourcelock import leaselock

logger = logging.getLogger("taskengine.lease")
IN_CLUSTER_NAMESPACE = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LEADER_LABEL = "taskengine.io/leader"


def default_namespace() -> str:
    """The pod's own namespace in a cluster; `default` elsewhere."""
    try:
        return IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


class _OneLine(logging.Filter):
    """The election library logs expected conflicts (two candidates at once) with a traceback: one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            reason = f"HTTP {error.status} {error.reason}" if isinstance(error, client.ApiException) else repr(error)
            record.msg, record.args, record.exc_info, record.levelno, record.levelname = (
                f"{record.getMessage()}: {reason}", (), None, logging.WARNING, "WARNING",
            )
        return True


class Leadership:
    def __init__(self, api: client.ApiClient, *, name: str, namespace: str, duration_seconds: int,
                 pod: tuple[str, str] | None = None) -> None:
        """`pod`: (namespace, name) of this replica's pod, labelled taskengine.io/leader=true|false as it leads or not."""
        self.identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.name, self.namespace = name, namespace
        self._pod = pod
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        self._api = api
        lock = leaselock.LeaseLock(name, namespace, self.identity, api)
        retry = max(1, duration_seconds // 8)
        config = electionconfig.Config(
            lock, lease_duration=duration_seconds, renew_deadline=duration_seconds * 2 / 3, retry_period=retry,
            onstarted_leading=self._started, onstopped_leading=self._stopped,
        )
        self._election = leaderelection.LeaderElection(config)
        self._task: asyncio.Task | None = None
        logging.getLogger(leaderelection.__name__).addFilter(_OneLine())
        logging.getLogger(leaselock.__name__).addFilter(_OneLine())

    async def start(self) -> None:
        await self._label(leading=False)  # a restarted leader's pod must not keep attracting traffic
        self._task = asyncio.create_task(self._election.run(), name="leader election")

    async def _label(self, *, leading: bool) -> None:
        if self._pod is None:
            return
        namespace, name = self._pod
        patch = {"metadata": {"labels": {LEADER_LABEL: "true" if leading else "false"}}}
        try:
            await client.CoreV1Api(self._api).patch_namespaced_pod(name, namespace, patch)
        except (client.ApiException, OSError) as error:
            logger.warning("could not label pod %s/%s %s=%s: %s", namespace, name, LEADER_LABEL, leading, error)

    async def wait_until_leading(self) -> bool:
        """True once this process holds the Lease; False if the election ended first."""
        assert self._task is not None
        waiting = asyncio.create_task(self.leading.wait())
        await asyncio.wait([waiting, self._task], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        return self.leading.is_set()

    async def _started(self) -> None:
        logger.info("leading: holding Lease %s/%s as %s", self.namespace, self.name, self.identity)
        await self._label(leading=True)
        self.leading.set()
        await asyncio.Event().wait()  # the library cancels this when the Lease is lost

    async def _stopped(self) -> None:
        logger.error("lost Lease %s/%s: stopping, another replica takes over", self.namespace, self.name)
        self.leading.clear()
        self.lost.set()
        await self._label(leading=False)

    async def release(self) -> None:
        """Stops campaigning; if holding the Lease, frees it so that a standby takes over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not self.leading.is_set():
            return
        await self._label(leading=False)
        leases = client.CoordinationV1Api(self._api)
        try:
            lease = await leases.read_namespaced_lease(self.name, self.namespace)
            if lease.spec and lease.spec.holder_identity == self.identity:
                await leases.patch_namespaced_lease(self.name, self.namespace, {"spec": {"holderIdentity": None}})
                logger.info("released Lease %s/%s", self.namespace, self.name)
        except (client.ApiException, OSError) as error:
            logger.warning("could not release Lease %s/%s: %s", self.namespace, self.name, error)
