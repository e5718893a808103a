"""Putting jobs on tier queues and taking them back (cancel), without blocking the event loop."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from common import keys, liveness
from common.celery_message import job_message
from common.jobs import JobEnvelope

#: A cancelled job's flag outlives any deadline (tier deadlines are minutes), so a late pop still drops it.
CANCELLED_FLAG_SECONDS = 600

# Check-and-push: the backlog is the jobs waiting now (LLEN), compared and pushed in one step, so N API processes
# together never queue past the limit and never refuse below it. LPUSH as kombu's Redis transport does.
_PUSH_BELOW = """
local depth = redis.call('LLEN', KEYS[1])
local limit = tonumber(ARGV[2])
if limit > 0 and depth >= limit then return {0, depth} end
return {1, redis.call('LPUSH', KEYS[1], ARGV[1])}
"""


class JobQueues:
    """The tier queues as the API sees them: push a job unless its tier's backlog is full."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._push = redis.register_script(_PUSH_BELOW)

    async def push(self, job: JobEnvelope, backlog_limit: int) -> int | None:
        """Queue the job's Celery task message (one round trip); None when the tier already has
        `backlog_limit` jobs waiting (0: no limit), else the queue's depth with it."""
        pushed, depth = await self._push(keys=[keys.queue(job.tier)], args=[job_message(job), backlog_limit])
        return int(depth) if pushed else None


async def cancel(redis: aioredis.Redis, job_id: str) -> None:
    """Stop a job nobody waits for any more: flag it for a worker yet to start it, tell the one running it (which
    closes the provider call, and bills only what the client was sent)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.cancelled_flag(job_id), 1, ex=CANCELLED_FLAG_SECONDS)
        pipe.publish(keys.CANCEL_CHANNEL, job_id)
        await pipe.execute()


class LiveWorkers:
    """Per tier, how many live workers serve it (from their heartbeats), read at most once per `cache_seconds`,
    so a busy API costs Redis no round trip per request for it."""

    def __init__(self, redis: aioredis.Redis, cache_seconds: float = 1.0) -> None:
        self._redis = redis
        self._cache_seconds = cache_seconds
        self._seen: dict[str, tuple[float, int]] = {}

    async def count(self, tier: str) -> int:
        now = time.monotonic()
        cached = self._seen.get(tier)
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        live = await self._redis.zcount(keys.worker_heartbeat(tier), liveness.live_since(time.time()), "+inf")
        self._seen[tier] = (now, live)
        return live
