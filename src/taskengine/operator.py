"""`taskengine operator`: runs Kopf with taskengine's handlers, optionally only while leading."""

from __future__ import annotations

import asyncio
import logging
import signal

import kopf
from aiohttp import web

from taskengine import handlers
from taskengine.kube import client as client_
from taskengine.kube import lease as lease_
from taskengine.settings import Settings

logger = logging.getLogger("taskengine")


def run(settings: Settings, *, verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # Kopf reports every handled watch event at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(_main(settings))


async def _main(settings: Settings) -> None:
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    liveness = f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
    operate = dict(registry=registry, standalone=True, clusterwide=not settings.namespaces,
                   namespaces=settings.namespaces, liveness_endpoint=liveness)
    if not settings.leader_election:
        await kopf.operator(**operate)
        return

    api = (await client_.connect()).operator
    namespace = settings.lease_namespace or lease_.default_namespace()
    pod = (settings.pod_namespace or namespace, settings.pod_name) if settings.pod_name else None
    leadership = lease_.Leadership(api, name=settings.lease_name, namespace=namespace,
                                   duration_seconds=settings.lease_duration_seconds, pod=pod)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await leadership.start()
    standby = await _standby(settings)
    logger.info("standing by: waiting for Lease %s/%s (as %s)", leadership.namespace, leadership.name, leadership.identity)
    stopped = asyncio.create_task(stopping.wait())
    elected = asyncio.create_task(leadership.wait_until_leading())
    await asyncio.wait([stopped, elected], return_when=asyncio.FIRST_COMPLETED)
    for runner in standby:
        await runner.cleanup()
    if elected.done() and elected.result() and not stopping.is_set():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)  # Kopf handles them from here
        stop_flag = asyncio.Event()
        lost = asyncio.create_task(leadership.lost.wait())
        lost.add_done_callback(lambda _: stop_flag.set())
        try:
            await kopf.operator(**operate, stop_flag=stop_flag)
        finally:
            lost.cancel()
    stopped.cancel()
    elected.cancel()
    await leadership.release()
    await api.close()
    if leadership.lost.is_set():
        raise SystemExit(1)  # restarted by its Deployment, it stands by again


async def _standby(settings: Settings) -> list[web.AppRunner]:
    """While standing by: /healthz says alive (Kopf serves it once leading), incoming webhooks get 503."""

    async def healthy(request: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    async def not_here(request: web.Request) -> web.Response:
        return web.json_response({"error": "this replica is standing by; retry"}, status=503, headers={"Retry-After": "1"})

    runners = []
    for port, route, handler in ((settings.liveness_port, "/healthz", healthy), (settings.http_port, "/hooks/{tail:.*}", not_here)):
        if not port:
            continue
        app = web.Application()
        app.router.add_route("*", route, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", port, reuse_address=True).start()
        runners.append(runner)
    return runners
