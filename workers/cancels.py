"""The cancel listener: a running job whose client went away is cancelled the moment the API says so; closing
its task closes the provider call (workers/http.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from common import keys

log = logging.getLogger("tiergate.worker")


async def listen_cancels(redis: aioredis.Redis, running: Mapping[str, asyncio.Task[Any]]) -> None:
    """For ever: cancel the task in `running` named by each message on the cancel channel; resubscribe after a
    Redis restart."""
    while True:
        try:
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(keys.CANCEL_CHANNEL)
            await _cancel_flagged(redis, running)
            async for message in pubsub.listen():
                task = running.get(message["data"].decode())
                if task is not None:
                    task.cancel()
        except Exception as exc:
            log.warning("cancel subscription lost (%s); resubscribing", exc)
            await asyncio.sleep(0.5)


async def _cancel_flagged(redis: aioredis.Redis, running: Mapping[str, asyncio.Task[Any]]) -> None:
    """Cancels sent while this process was not subscribed (a Redis restart, a cut connection) are lost, but their
    flags stay: on each (re)subscription, cancel the running jobs that carry one."""
    job_ids = list(running)
    if not job_ids:
        return
    flags = await redis.mget([keys.cancelled_flag(job_id) for job_id in job_ids])
    for job_id, flag in zip(job_ids, flags, strict=True):
        task = running.get(job_id)
        if flag is not None and task is not None:
            task.cancel()
