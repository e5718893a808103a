"""Putting jobs on tier queues and taking them back (cancel), without blocking the event loop."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from common import keys
from common.celery_message import task_message
from common.jobs import JobEnvelope

LIVE_WORKER_SECONDS = 10.0


async def enqueue(redis: aioredis.Redis, job: JobEnvelope) -> None:
    """LPUSH the Celery task message onto the tier's queue list (what kombu's Redis transport does)."""
    await redis.lpush(job.tier, task_message(keys.COMPLETE_TASK, job.id, job.tier, [job.to_dict()]))


async def cancel(redis: aioredis.Redis, job_id: str) -> None:
    """Stop a job whose client is gone: flag it for a worker yet to start it, tell the one running it."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.cancelled_flag(job_id), 1, ex=600)
        pipe.publish(keys.CANCEL_CHANNEL, job_id)
        await pipe.execute()


class LiveWorkers:
    """Per tier, how many live workers serve it (from their heartbeats) and how deep its queue is, read in one
    pipeline at most once per `cache_seconds`, so a busy API costs Redis no round trip per request.

    Between reads, the jobs this process admitted are added to the depth: a burst that arrives inside one
    cache interval still stops at the backlog limit instead of all seeing the stale depth.
    """

    def __init__(self, redis: aioredis.Redis, cache_seconds: float = 1.0) -> None:
        self._redis = redis
        self._cache_seconds = cache_seconds
        self._seen: dict[str, tuple[float, int, int]] = {}
        self._admitted: dict[str, int] = {}

    async def count(self, tier: str) -> int:
        return (await self._read(tier))[0]

    async def depth(self, tier: str) -> int:
        """Jobs waiting in the tier's queue, as last read plus those this process admitted since."""
        return (await self._read(tier))[1] + self._admitted.get(tier, 0)

    def admitted(self, tier: str) -> None:
        self._admitted[tier] = self._admitted.get(tier, 0) + 1

    async def _read(self, tier: str) -> tuple[int, int]:
        now = time.monotonic()
        cached = self._seen.get(tier)
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1], cached[2]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(keys.worker_heartbeat(tier), time.time() - LIVE_WORKER_SECONDS, "+inf")
            pipe.llen(tier)
            live, depth = await pipe.execute()
        self._seen[tier] = (now, live, depth)
        self._admitted[tier] = 0
        return live, depth
