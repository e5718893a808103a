"""Waiting for a job's next event, bounded by its deadline and by the client staying connected."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import Receive


class ClientGone(Exception):
    """The client disconnected while its job was running."""


async def wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def next_event(queue: asyncio.Queue[dict[str, Any]], deadline: float,
                     disconnected: asyncio.Future[None] | None = None,
                     wait_at_most: float | None = None) -> dict[str, Any] | None:
    """The job's next event; None when `wait_at_most` passes first.

    Raises TimeoutError at the deadline and ClientGone when `disconnected` completes first.
    """
    if not queue.empty():
        return queue.get_nowait()
    remaining = deadline - time.time()
    if remaining <= 0:
        raise TimeoutError
    timeout = remaining if wait_at_most is None else min(remaining, wait_at_most)
    getter = asyncio.ensure_future(queue.get())
    waiters: set[asyncio.Future[Any]] = {getter}
    if disconnected is not None:
        waiters.add(disconnected)
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the stream is cancelled (its client left): no pending get is left to the collector
        if not getter.done():
            getter.cancel()
    if getter in done:
        return getter.result()
    if disconnected is not None and disconnected in done:
        raise ClientGone
    if wait_at_most is not None and time.time() < deadline:
        return None
    raise TimeoutError
