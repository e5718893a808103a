"""A Redis write tried again while Redis is away (a restart), for as long as the write is still worth making."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger("tiergate.retry")


async def retried(write: Callable[[], Awaitable[Any]], what: str, until: float | None = None,
                  retry_seconds: float = 0.5) -> None:
    """`write`, tried again while Redis is away until `until` (epoch seconds; default a minute): a cancel until
    its job's deadline, past which the worker stops it anyway; the usage of a lost stream (common/lost_streams.py)
    for a minute."""
    until = time.time() + 60 if until is None else until
    while True:
        try:
            await write()
            return
        except (RedisError, OSError) as exc:
            if time.time() >= until:
                log.warning("gave up writing %s: %s", what, exc)
                return
            await asyncio.sleep(retry_seconds)
