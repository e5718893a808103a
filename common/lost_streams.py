"""Streams whose worker died mid-answer: counted by whoever learns of the death second, once.

Only the API relaying a stream knows how many chunks its client got; only a rescuer (common/inflight.py) knows
the worker died, and it may learn that after the API stopped relaying (the stream's deadline passed, or its
client left, while the worker's death was not yet known). So both leave a trace in one key (keys.stream_cut):

- The API, ending a stream before its worker's last event, leaves a note: the status and chunks the client got
  (`note_cut`). A live worker bills that stream itself (a cut stream is billed for what it sent), and the note
  expires unread.
- The rescuer, claiming a dead worker's job whose output had started, reads the note and marks the job lost in
  the same step (common/lease.py, Leases.claim). A note found: the rescuer counts the stream. None: it publishes
  worker_lost, on which the API still relaying counts it (api/streaming.py); an API that stops relaying
  afterwards finds the mark where it would leave its note, and counts the stream then.

Whoever learns second puts the note and the job in keys.streams_to_count in that same step, and takes them out
once counted: were it to die (or Redis to stay away) in between, every watchdog round counts what is left
(`count_left`). Every count is once by request id (common/usage.py), so a count that two of them reach changes
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from common import keys
from common.audit import accepted_record
from common.budget import PricedModel
from common.celery_message import UnreadableJob, job_message, read_job
from common.jobs import JobEnvelope
from common.pricing import partial_stream_usage, usage_cost
from common.usage import UsageEntry, UsageRecorder

log = logging.getLogger("tiergate.lost_streams")

#: How long a note waits for a rescuer: a dead worker is rescued within seconds while any process of the
#: gateway runs; past an hour with none running, the stream goes unbilled rather than the key living for ever.
CUT_KEPT_SECONDS = 3600
#: The mark a rescuer leaves in keys.stream_cut.
LOST = b"lost"

_NOTE = """
if redis.call('GET', KEYS[1]) == ARGV[5] then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1] .. '\\n' .. ARGV[4])
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 0
"""


@dataclass(frozen=True)
class Cut:
    """How a stream ended for its client: the status it saw, the chunks it got, the model that answered."""

    status: int
    chunks: int
    model: str | None

    def encode(self) -> bytes:
        return f"{self.status} {self.chunks} {self.model or ''}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> Cut:
        status, chunks, model = raw.decode().split(" ", 2)
        return cls(int(status), int(chunks), model or None)


class LostStreams:
    def __init__(self, redis: aioredis.Redis, models: Mapping[str, PricedModel], content_mode: str) -> None:
        self._redis = redis
        self._models = models
        self._content_mode = content_mode
        self._usage = UsageRecorder(redis)
        self._note = redis.register_script(_NOTE)

    async def note_cut(self, job: JobEnvelope, cut: Cut) -> bool:
        """The API stopped relaying `job`'s stream before its worker's last event: leave the note; True when a
        rescuer marked the job lost already (then the caller counts the stream: nobody else will)."""
        return bool(await self._note(keys=[keys.stream_cut(job.id), keys.streams_to_count()],
                                     args=[cut.encode(), CUT_KEPT_SECONDS, job.id, job_message(job), LOST]))

    async def settle(self, job: JobEnvelope, cut: Cut) -> None:
        """Count a stream put in keys.streams_to_count, then take it out."""
        await self.count(job, cut)
        await self._redis.hdel(keys.streams_to_count(), job.id)

    async def count_left(self) -> int:
        """Count the streams a process died (or Redis went away) before counting; how many there were."""
        left = await self._redis.hgetall(keys.streams_to_count())
        for job_id, raw in left.items():
            cut, _, message = raw.partition(b"\n")
            try:
                job, read = read_job(message), Cut.decode(cut)
            except (UnreadableJob, ValueError) as exc:  # never written so; kept, it would stop every later round
                log.error("dropped an unreadable stream to count (%s): %s", job_id.decode(errors="replace"), exc)
                await self._redis.hdel(keys.streams_to_count(), job_id)
                continue
            await self.settle(job, read)
        return len(left)

    async def count(self, job: JobEnvelope, cut: Cut) -> None:
        """Count a stream cut with its worker dead: what its client got, its reservations settled."""
        priced = self._models.get(cut.model or "")
        usage = partial_stream_usage(job.estimated_tokens, cut.chunks) if priced else {}
        cost = usage_cost(usage, priced.input_cost_per_token, priced.output_cost_per_token) if priced else 0.0
        entry = UsageEntry(request_id=job.id, organization_id=job.organization_id, tier=job.tier, model=cut.model,
                           user_id=job.user_id, prompt_tokens=usage.get("prompt_tokens", 0),
                           completion_tokens=usage.get("completion_tokens", 0), cost_usd=cost, cache_hit=False,
                           error=True, time=time.time())
        audit = accepted_record(job, entry, cut.status, attempts=[], answer=None, content_mode=self._content_mode)
        await self._usage.record(entry, audit, job.tokens_key or None,
                                 entry.prompt_tokens + entry.completion_tokens - job.reserved_tokens,
                                 reservation=job.reservation)
