"""`taskengine operator`: runs Kopf with taskengine's handlers."""

from __future__ import annotations

import asyncio
import logging

import kopf

from taskengine import handlers
from taskengine.settings import Settings


def run(settings: Settings, *, verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # Kopf reports every handled watch event at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    liveness = f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
    asyncio.run(
        kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            liveness_endpoint=liveness,
        )
    )
