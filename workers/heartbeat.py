"""The heartbeat: a worker tells the API it consumes its tiers (readiness, 503 on a tier with no worker) and
what it is doing (GET /ai/queues), every BEAT_SECONDS (common/liveness.py).

It has a Redis connection of its own: on the jobs' pool it waited behind busy jobs for a connection, and a
worker late by a few seconds was declared dead while it still streamed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from common import keys, liveness
from common.recent import RECENT

log = logging.getLogger("tiergate.worker")


class Heartbeat:
    def __init__(self, redis_url: str, worker_id: str, tiers: Sequence[str], info: Callable[[float], bytes],
                 draining: Callable[[], bool]) -> None:
        self._redis = aioredis.Redis.from_url(redis_url, max_connections=2)
        self._worker_id = worker_id
        self._tiers = list(tiers)
        self._info = info
        self._draining = draining

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(liveness.BEAT_SECONDS)

    async def beat(self) -> None:
        """A draining worker keeps its details alive but no longer advertises its tiers."""
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.worker_info(self._worker_id), self._info(now), ex=liveness.DEAD_AFTER_SECONDS)
            for tier in self._tiers:
                if not self._draining():
                    pipe.zadd(keys.worker_heartbeat(tier), {self._worker_id: now})
                pipe.zremrangebyscore(keys.worker_heartbeat(tier), 0, liveness.live_since(now))
            RECENT.flush_into(pipe)  # the dashboard's queue waits ride along
            await pipe.execute()

    async def withdraw(self) -> None:
        """Warm shutdown began: stop advertising the tiers at once (the API answers 503 if this was the last)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for tier in self._tiers:
                    pipe.zrem(keys.worker_heartbeat(tier), self._worker_id)
                pipe.set(keys.worker_info(self._worker_id), self._info(time.time()), ex=liveness.DEAD_AFTER_SECONDS)
                await pipe.execute()
        except Exception as exc:
            log.warning("could not withdraw from the tier heartbeats: %s", exc)
