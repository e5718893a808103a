"""GET /ai/queues: Flower-style inspection of the tier queues, their workers and their recent outcomes."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import authenticate, require_master
from api.errors import error_response
from api.state import Gateway
from common import keys, liveness
from common.celery_message import UnreadableJob, read_job
from common.errors import GatewayError, queue_unavailable
from common.inflight import OUTCOMES, InflightRecord
from config import TIER_NAMES

WINDOW_SECONDS = 60


async def queues(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        require_master(await authenticate(request, gateway.tenancy))
        snapshot = await queue_snapshot(gateway)
    except GatewayError as exc:
        return error_response(exc)
    except redis.exceptions.RedisError:
        return error_response(queue_unavailable())
    return JSONResponse(snapshot, headers={"cache-control": "no-store"})


async def queue_snapshot(gateway: Gateway) -> dict[str, Any]:
    """Every tier's figures from two pipelined round trips, whatever the number of workers."""
    now = time.time()
    seconds = range(int(now) - WINDOW_SECONDS + 1, int(now) + 1)
    async with gateway.redis.pipeline(transaction=False) as pipe:
        for tier in TIER_NAMES:
            pipe.llen(keys.queue(tier))
            pipe.lindex(keys.queue(tier), -1)  # LPUSH in, BRPOP out: the oldest waiting job is at the tail
            pipe.hgetall(keys.inflight(tier))
            pipe.zrangebyscore(keys.worker_heartbeat(tier), liveness.live_since(now), "+inf")
            for second in seconds:
                pipe.hgetall(keys.tier_outcomes(tier, second))
        rows = await pipe.execute()
    per_tier = len(rows) // len(TIER_NAMES)
    tiers: dict[str, Any] = {}
    organizations: Counter[str] = Counter()
    owners: dict[str, set[str]] = {}
    load: dict[str, Counter[str]] = {}
    for index, tier in enumerate(TIER_NAMES):
        depth, oldest, running, live, *buckets = rows[index * per_tier:(index + 1) * per_tier]
        records = [InflightRecord.parse(raw) for raw in running.values()]
        load[tier] = Counter(r.worker for r in records)
        outcomes = _sum_buckets(buckets, organizations)
        owners[tier] = {m.decode() for m in live} | {r.worker for r in records}
        settings = gateway.settings.tiers[tier]
        tiers[tier] = {
            "name": settings.name, "depth": depth, "backlog_limit": settings.backlog_limit,
            "oldest_wait_seconds": _age(oldest, now), "in_flight": len(records),
            "oldest_in_flight_seconds": round(now - min(r.started for r in records), 3) if records else None,
            **{f"{name}_last_minute": outcomes.get(name, 0) for name in OUTCOMES},
            "throughput_per_minute": outcomes.get("ok", 0) + outcomes.get("failed", 0),
        }
    workers = await _workers(gateway.redis, set().union(*owners.values()), now)
    for tier, ids in owners.items():
        # A worker of several tiers: its jobs of this tier, not its total on every tier's row.
        tiers[tier]["workers"] = [{**workers[w], "active_on_tier": load[tier][w]} for w in sorted(ids) if w in workers]
        tiers[tier]["live_workers"] = sum(1 for w in tiers[tier]["workers"] if not w["draining"])
    return {"object": "queues", "time": now, "window_seconds": WINDOW_SECONDS, "tiers": tiers,
            "requests_last_minute_by_organization": dict(organizations.most_common())}


def _sum_buckets(buckets: list[dict[bytes, bytes]], organizations: Counter[str]) -> Counter[str]:
    """Outcome counts over the window; per-organization request counts go to `organizations`."""
    outcomes: Counter[str] = Counter()
    for bucket in buckets:
        for raw_field, raw_value in bucket.items():
            name = raw_field.decode()
            if name.startswith("org:"):
                organizations[name[4:]] += int(raw_value)
            else:
                outcomes[name] += int(raw_value)
    return outcomes


async def _workers(redis: aioredis.Redis, ids: set[str], now: float) -> dict[str, dict[str, Any]]:
    """Details of the workers that are alive (their info key has not expired)."""
    ordered = sorted(ids)
    infos = await redis.mget([keys.worker_info(w) for w in ordered]) if ordered else []
    found: dict[str, dict[str, Any]] = {}
    for worker_id, raw in zip(ordered, infos, strict=True):
        if raw is None:
            continue
        info = orjson.loads(raw)
        found[worker_id] = {"id": worker_id, "host": info["host"], "pid": info["pid"], "tiers": info["tiers"],
                            "concurrency": info["concurrency"], "active": info["active"],
                            "draining": info["draining"], "heartbeat_age_seconds": round(now - info["heartbeat_at"], 3),
                            "up_seconds": round(now - info["started_at"], 1)}
    return found


def _age(message: bytes | None, now: float) -> float | None:
    """Seconds since the job in a Celery queue message was enqueued (None: empty queue or unreadable)."""
    if message is None:
        return None
    try:
        return round(now - read_job(message).enqueued_at, 3)
    except UnreadableJob:
        return None
