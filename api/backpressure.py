"""Admission by capacity: work the tier cannot take in time is refused at once with 503 and `retry-after`,
instead of queueing it to time out as a 504 later."""

from __future__ import annotations

import logging

import redis.exceptions
from starlette.requests import Request
from starlette.responses import Response

from api.errors import error_response
from api.state import Gateway
from common.errors import GatewayError, queue_unavailable
from common.jobs import JobEnvelope

log = logging.getLogger("tiergate.api")


async def check_workers(gateway: Gateway, tier: str) -> None:
    """Raise 503 when the tier has no live worker or the reply channel is down (a job enqueued now could never
    answer). Cheap: the live-worker count is cached, so it costs no round trip per request."""
    if not gateway.listener.connected:
        raise queue_unavailable()
    try:
        live = await gateway.live_workers.count(tier)
    except redis.exceptions.RedisError:
        raise queue_unavailable() from None
    if live == 0:
        raise GatewayError(503, f"no live worker serves {tier}", "no_worker", retry_after=5)


async def push(gateway: Gateway, job: JobEnvelope) -> None:
    """Queue the job unless its tier already has `backlog_limit` jobs waiting: then 503 `backlog_full`. The
    check and the push are one step, so the limit bounds the jobs waiting, never the jobs admitted per second."""
    limit = gateway.settings.tiers[job.tier].backlog_limit
    try:
        depth = await gateway.queues.push(job, limit)
    except redis.exceptions.RedisError:
        raise queue_unavailable() from None
    if depth is None:
        raise GatewayError(503, f"{job.tier} is overloaded: {limit} jobs are waiting (its backlog limit)",
                           "backlog_full", retry_after=2)


async def redis_unavailable(request: Request, exc: Exception) -> Response:
    """Any Redis failure not handled where it happened: the gateway cannot work without it, say so with 503."""
    log.warning("%s %s: Redis unavailable (%s)", request.method, request.url.path, exc)
    return error_response(queue_unavailable())
