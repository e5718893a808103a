"""Jobs in flight: the record of who took each (written by the take script, common/lease.py), the count of how
jobs end, and the rescue of a dead worker's jobs.

Why a watchdog and not a short Celery visibility timeout: kombu redelivers an unacknowledged message after
`visibility_timeout` whether its worker is dead or merely slow, so a timeout short enough to rescue a tier-1
request (30 s deadline) would also run every long tier-4 answer twice. A worker's death is known from its
expiring `worker_info` key (common/liveness.py); each job it held is claimed by one rescuer (an atomic script
that also takes its lease over, so the worker, were it only slow, can publish and bill nothing more), then
queued again when nothing reached its client, or ended when output had started (a stream under way cannot be
replayed): with a worker_lost error event, on which the API relaying it counts what it relayed, or, when that API
stopped relaying it already, counted by the rescuer from the note the API left (common/lost_streams.py). Workers
and API processes all run the rescue, so it happens even when the dead worker was the last one of its tier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from common import keys, liveness
from common.celery_message import UnreadableJob, read_job
from common.errors import WORKER_LOST, GatewayError
from common.jobs import JobEnvelope, encode_event
from common.lease import Claimed, Leases, holder
from common.lost_streams import Cut, LostStreams
from common.retrying import retried

log = logging.getLogger("tiergate.inflight")

Outcome = Literal["ok", "failed", "dropped", "redispatched"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "failed", "dropped", "redispatched")
#: Per-second outcome buckets live this long: enough for "the last minute" and a slow reader.
OUTCOME_BUCKET_TTL = 180

@dataclass
class InflightRecord:
    """A job taken by `worker` under `lease` at `started`; `message` is its task message as it was queued."""

    worker: str
    lease: str
    started: float
    message: bytes

    @classmethod
    def parse(cls, raw: bytes) -> InflightRecord:
        """The take script's record: a JSON line {worker, lease, started}, then the message (common/lease.py)."""
        head, _, message = raw.partition(b"\n")
        data = orjson.loads(head)
        return cls(data["worker"], data["lease"], data["started"], message)

    def job(self) -> JobEnvelope:
        return read_job(self.message)


async def finish(redis: aioredis.Redis, tier: str, outcome: Outcome, organization: str = "") -> None:
    """Count a job's outcome, and its organization's request, in this second's bucket."""
    async with redis.pipeline(transaction=False) as pipe:
        finish_in(pipe, tier, outcome, organization)
        await pipe.execute()


def finish_in(pipe: Any, tier: str, outcome: Outcome, organization: str = "") -> None:
    """`finish` queued on a pipeline the caller runs with other commands (the worker: with the job's usage)."""
    bucket = keys.tier_outcomes(tier, int(time.time()))
    pipe.hincrby(bucket, outcome, 1)
    if organization and outcome != "redispatched":  # a re-dispatched job is counted when it ends
        pipe.hincrby(bucket, f"org:{organization}", 1)
    pipe.expire(bucket, OUTCOME_BUCKET_TTL)


async def watch(redis: aioredis.Redis, tiers: list[str], lost_streams: LostStreams, interval: float = 2.0) -> None:
    """Rescue orphans every `interval` seconds, for ever; Redis errors (a restart) only skip a round, and so does
    a Redis up for less than DEAD_AFTER_SECONDS: heartbeats missed while it was away are not deaths, and a
    worker is given as long to beat again as it would have had."""
    leases = Leases(redis)
    while True:
        await asyncio.sleep(interval)
        try:
            if await up_long_enough(redis):
                await rescue_orphans(redis, tiers, lost_streams, leases)
            await lost_streams.count_left()
        except Exception as exc:
            log.warning("orphan rescue failed: %s", exc)


async def up_long_enough(redis: aioredis.Redis) -> bool:
    """Redis has been up DEAD_AFTER_SECONDS: a worker whose liveness is missing now missed beats it could make."""
    try:
        info = await redis.info("server")
    except ResponseError:  # the embedded server (fakeredis) has no INFO, and no restart to recover from
        return True
    uptime = info.get("uptime_in_seconds")  # a Redis-compatible server may not say: then it is not held back
    return uptime is None or int(uptime) >= liveness.DEAD_AFTER_SECONDS


async def rescue_orphans(redis: aioredis.Redis, tiers: list[str], lost_streams: LostStreams,
                         leases: Leases | None = None) -> list[tuple[str, str]]:
    """Re-dispatch or fail the jobs in flight of workers that are gone; returns (job id, what was done)."""
    leases = leases or Leases(redis)
    done: list[tuple[str, str]] = []
    for tier in tiers:
        held = {job_id.decode(): holder(value) for job_id, value in (await redis.hgetall(keys.leases(tier))).items()}
        if not held:
            continue
        workers = sorted({worker for worker, _ in held.values()})
        alive = await redis.mget([keys.worker_info(w) for w in workers])
        dead = {w for w, info in zip(workers, alive, strict=True) if info is None}
        for job_id, (worker, token) in held.items():
            if worker not in dead:
                continue
            claimed = await leases.claim(tier, job_id, token)
            if claimed is not None and claimed.record:
                record = InflightRecord.parse(claimed.record)
                done.append((job_id, await _rescue(redis, tier, record, claimed, lost_streams)))
    return done


async def _rescue(redis: aioredis.Redis, tier: str, record: InflightRecord, claimed: Claimed,
                  lost_streams: LostStreams) -> str:
    try:
        job = record.job()
    except UnreadableJob as exc:
        log.error("dropped an unreadable job in flight of %s: %s", record.worker, exc)
        return "unreadable"
    if not claimed.produced:  # even past its deadline: the worker that takes it records how it ended
        await redis.rpush(keys.queue(tier), record.message)  # the tail: the next job taken
        await finish(redis, tier, "redispatched")
        log.warning("job %s re-dispatched: worker %s died before producing output", job.id, record.worker)
        return "redispatched"
    if claimed.cut is not None:  # its API stopped relaying it already, and said what its client got
        cut = Cut.decode(claimed.cut)
        await retried(lambda: lost_streams.settle(job, cut), f"the usage of {job.id}")
        await finish(redis, tier, "failed", job.organization_id)
        log.warning("job %s failed: worker %s died after its output had started; counted the %d chunks its client "
                    "got", job.id, record.worker, cut.chunks)
        return "failed"
    # The API relaying it counts it, for the chunks it relayed (api/streaming.py): no worker will.
    error = GatewayError(502, "the worker running this request died mid-answer", WORKER_LOST)
    await redis.publish(job.reply_to, encode_event(job.id, "error", **error.to_event()))
    await finish(redis, tier, "failed", job.organization_id)
    log.warning("job %s failed: worker %s died after its output had started", job.id, record.worker)
    return "failed"
