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
    """Which tiers have a live worker, from the workers' heartbeats; cached a second per tier."""

    def __init__(self, redis: aioredis.Redis, cache_seconds: float = 1.0) -> None:
        self._redis = redis
        self._cache_seconds = cache_seconds
        self._seen: dict[str, tuple[float, int]] = {}

    async def count(self, tier: str) -> int:
        now = time.monotonic()
        cached = self._seen.get(tier)
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        live = await self._redis.zcount(keys.worker_heartbeat(tier), time.time() - LIVE_WORKER_SECONDS, "+inf")
        self._seen[tier] = (now, live)
        return live
