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

log = logging.getLogger("tiergate.api")


async def check_capacity(gateway: Gateway, tier: str) -> None:
    """Raise 503 when the tier has no live worker, its queue is at its backlog limit, or the reply channel
    is down (a job enqueued now could never answer); otherwise count the job as queued."""
    if not gateway.listener.connected:
        raise queue_unavailable()
    try:
        if await gateway.live_workers.count(tier) == 0:
            raise GatewayError(503, f"no live worker serves {tier}", "no_worker", retry_after=5)
        limit = gateway.settings.tiers[tier].backlog_limit
        depth = await gateway.live_workers.depth(tier)
    except redis.exceptions.RedisError:
        raise queue_unavailable() from None
    if limit and depth >= limit:
        raise GatewayError(503, f"{tier} is overloaded: {depth} jobs are waiting (limit {limit})",
                           "backlog_full", retry_after=2)
    gateway.live_workers.admitted(tier)


async def redis_unavailable(request: Request, exc: Exception) -> Response:
    """Any Redis failure not handled where it happened: the gateway cannot work without it, say so with 503."""
    log.warning("%s %s: Redis unavailable (%s)", request.method, request.url.path, exc)
    return error_response(queue_unavailable())
