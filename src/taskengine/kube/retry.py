"""Retrying API calls that fail for passing reasons (the API server starting, throttling)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from kubernetes_asyncio import client

T = TypeVar("T")
logger = logging.getLogger("taskengine.kube")


def is_transient(error: BaseException) -> bool:
    if isinstance(error, client.ApiException):
        return error.status in (429, 500, 502, 503, 504)
    return isinstance(error, (aiohttp.ClientConnectionError, asyncio.TimeoutError))


async def transient(call: Callable[[], Awaitable[T]], *, what: str, attempts: int = 8, delay: float = 0.5) -> T:
    """`call()`, retried with exponential backoff while it fails transiently."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
            logger.info("%s failed (%s); retrying", what, getattr(error, "reason", None) or type(error).__name__)
            await asyncio.sleep(min(delay * 2 ** (attempt - 1), 10))
    raise AssertionError("unreachable")
