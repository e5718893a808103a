"""Jobs in flight, registered in Redis with the worker running them, and the rescue of a dead worker's jobs.

Why a watchdog and not a short Celery visibility timeout: kombu redelivers an unacknowledged message after
`visibility_timeout` whether its worker is dead or merely slow, so a timeout short enough to rescue a tier-1
request (30 s deadline) would also run every long tier-4 answer twice. A worker's death is known exactly from
its expiring `worker_info` key; the jobs it held are then re-enqueued (nothing reached the client yet) or
failed on their reply channel (a stream already under way cannot be replayed), each claimed by one HDEL so
exactly one process acts. Workers and API processes all run the rescue, so it happens even when the dead
worker was the last one of its tier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from common import keys
from common.celery_message import task_message
from common.errors import WORKER_LOST, GatewayError
from common.jobs import JobEnvelope, encode_event

log = logging.getLogger("tiergate.inflight")

Outcome = Literal["ok", "failed", "dropped", "redispatched"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "failed", "dropped", "redispatched")
#: Per-second outcome buckets live this long: enough for "the last minute" and a slow reader.
OUTCOME_BUCKET_TTL = 180


@dataclass
class InflightRecord:
    worker: str
    started: float
    produced: bool
    job: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps({"worker": self.worker, "started": self.started, "produced": self.produced,
                             "job": self.job})

    @classmethod
    def from_json(cls, raw: bytes | str) -> InflightRecord:
        data = orjson.loads(raw)
        return cls(data["worker"], data["started"], data["produced"], data["job"])


def register_in(pipe: Any, worker: str, job: JobEnvelope, produced: bool = False) -> None:
    """Note, on a pipeline the caller runs with other commands, that `worker` runs `job`; `produced` once any
    of its output went out (it can no longer be re-run)."""
    record = InflightRecord(worker, time.time(), produced, job.to_dict())
    pipe.hset(keys.inflight(job.tier), job.id, record.to_json())


async def finish(redis: aioredis.Redis, tier: str, job_id: str | None, outcome: Outcome,
                 organization: str = "") -> None:
    """Forget a job in flight (None: it was never registered) and count its outcome, and its organization's
    request, in this second's bucket."""
    async with redis.pipeline(transaction=False) as pipe:
        finish_in(pipe, tier, job_id, outcome, organization)
        await pipe.execute()


def finish_in(pipe: Any, tier: str, job_id: str | None, outcome: Outcome, organization: str = "") -> None:
    """`finish` queued on a pipeline the caller runs with other commands (the worker: with the job's usage)."""
    bucket = keys.tier_outcomes(tier, int(time.time()))
    if job_id is not None:
        pipe.hdel(keys.inflight(tier), job_id)
    pipe.hincrby(bucket, outcome, 1)
    if organization and outcome != "redispatched":  # a re-dispatched job is counted when it ends
        pipe.hincrby(bucket, f"org:{organization}", 1)
    pipe.expire(bucket, OUTCOME_BUCKET_TTL)


async def watch(redis: aioredis.Redis, tiers: list[str], interval: float = 2.0) -> None:
    """Rescue orphans every `interval` seconds, for ever; Redis errors (a restart) only skip a round."""
    while True:
        await asyncio.sleep(interval)
        try:
            await rescue_orphans(redis, tiers)
        except Exception as exc:
            log.warning("orphan rescue failed: %s", exc)


async def requeue(redis: aioredis.Redis, job: JobEnvelope) -> None:
    """Put a job that never produced output back at the front of its queue (the end BRPOP takes from), with the
    same id and reply channel: the waiting request gets the answer, its usage stays keyed by the same id."""
    await redis.rpush(job.tier, task_message(keys.COMPLETE_TASK, job.id, job.tier, [job.to_dict()]))
    await finish(redis, job.tier, None, "redispatched")


async def rescue_orphans(redis: aioredis.Redis, tiers: list[str]) -> list[tuple[str, str]]:
    """Re-dispatch or fail the jobs in flight of workers that are gone; returns (job id, what was done)."""
    done: list[tuple[str, str]] = []
    for tier in tiers:
        records = {k.decode(): InflightRecord.from_json(v)
                   for k, v in (await redis.hgetall(keys.inflight(tier))).items()}
        if not records:
            continue
        workers = sorted({r.worker for r in records.values()})
        alive = await redis.mget([keys.worker_info(w) for w in workers])
        dead = {w for w, info in zip(workers, alive, strict=True) if info is None}
        for job_id, record in records.items():
            if record.worker in dead and await redis.hdel(keys.inflight(tier), job_id) == 1:
                done.append((job_id, await _rescue(redis, record)))
    return done


async def _rescue(redis: aioredis.Redis, record: InflightRecord) -> str:
    job = JobEnvelope.from_dict(record.job)
    if job.remaining() <= 0:
        await finish(redis, job.tier, None, "dropped", job.organization_id)  # its client had its 504 already
        return "expired"
    if not record.produced:
        await requeue(redis, job)
        log.warning("job %s re-dispatched: worker %s died before producing output", job.id, record.worker)
        return "redispatched"
    error = GatewayError(502, "the worker running this request died mid-answer", WORKER_LOST)
    await redis.publish(job.reply_to, encode_event(job.id, "error", **error.to_event()))
    await finish(redis, job.tier, None, "failed", job.organization_id)
    log.warning("job %s failed: worker %s died after its output had started", job.id, record.worker)
    return "failed"
