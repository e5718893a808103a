"""After a cacheable job: store its answer, then wake the identical requests that waited for it."""

from __future__ import annotations

import logging
import time

import orjson
import redis.asyncio as aioredis

from common import keys
from common.cache import completion_from_stream
from common.jobs import JobEnvelope
from workers.execute import JobOutcome

log = logging.getLogger("tiergate.worker")


async def fill_cache(redis: aioredis.Redis, job: JobEnvelope, outcome: JobOutcome | None, status: int,
                     max_entry_bytes: int) -> None:
    if not job.cache_key:
        return
    entry = _entry(job, outcome) if status == 200 and outcome is not None else None
    async with redis.pipeline(transaction=False) as pipe:
        if entry is not None and len(entry) <= max_entry_bytes and job.cache_ttl:
            pipe.set(keys.response_cache(job.cache_key), entry, ex=job.cache_ttl)
        pipe.delete(keys.cache_leader(job.cache_key))
        pipe.publish(keys.CACHE_FILLED_CHANNEL, job.cache_key)  # waiters re-read; no entry means "run your own"
        await pipe.execute()


def _entry(job: JobEnvelope, outcome: JobOutcome) -> bytes | None:
    if outcome.model is None:
        return None
    if outcome.completion is not None:
        completion = outcome.completion
    elif outcome.streamed_tool_calls:
        return None  # a streamed tool call is not worth reassembling for the cache
    else:
        completion = completion_from_stream(outcome.model, outcome.answer, outcome.finish_reason, outcome.usage,
                                            int(time.time()))
    return orjson.dumps({"model": outcome.model, "completion": completion})
