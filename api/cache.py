"""The response cache at the front door: look up, coalesce identical requests, answer hits.

Identical concurrent requests make one provider call: the first takes the leader mark and runs its job;
the others wait for the worker's "filled" announcement (api/relay.py) and are answered from the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.exceptions
from starlette.responses import Response

from api.sse import SSE_HEADERS, DisconnectAwareStream
from api.state import Gateway
from common import keys
from common.audit import accepted_record
from common.cache import CacheControl, cache_key
from common.chat_shapes import StreamIdentity
from common.jobs import JobEnvelope
from common.metrics import CACHE
from common.sse import DONE, sse_data
from common.usage import UsageEntry


@dataclass
class CachedAnswer:
    model: str
    completion: dict[str, Any]


async def consult(gateway: Gateway, job: JobEnvelope, control: CacheControl) -> CachedAnswer | None:
    """A cached answer for this job, waiting for an identical request's answer when one is being made.
    On a miss, marks `job` to fill the cache when allowed."""
    if not control.used:
        return None
    key = cache_key(job.organization_id, job.tier, job.models[0], job.body)
    try:
        found = await _read_or_lead(gateway, job, key, control) if control.read else None
    except redis.exceptions.RedisError:
        return None  # the cache is an optimisation: without Redis the job runs as usual (and fails fast there)
    CACHE.labels("hit" if found else "miss").inc()
    return found


async def _read_or_lead(gateway: Gateway, job: JobEnvelope, key: str, control: CacheControl) -> CachedAnswer | None:
    filled = gateway.listener.watch_cache(key)
    try:
        found = await _get(gateway, key)
        if found is not None or not control.write:
            return found
        leader = await gateway.redis.set(keys.cache_leader(key), job.id, nx=True,
                                         px=max(1, int((job.deadline - time.time()) * 1000)))
        if not leader:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(filled.wait(), max(0.0, job.deadline - time.time()))
            found = await _get(gateway, key)
            if found is not None:
                return found
        job.cache_key, job.cache_ttl = key, control.ttl or 0  # leader, or the leader failed: fill it ourselves
        return None
    finally:
        gateway.listener.unwatch_cache(key, filled)


async def _get(gateway: Gateway, key: str) -> CachedAnswer | None:
    raw = await gateway.redis.get(keys.response_cache(key))
    if raw is None:
        return None
    entry = orjson.loads(raw)
    return CachedAnswer(entry["model"], entry["completion"])


def hit_response(job: JobEnvelope, answer: CachedAnswer, headers: dict[str, str]) -> Response | DisconnectAwareStream:
    headers = {**headers, "x-gateway-cache": "HIT", "x-gateway-model": answer.model}
    completion = {**answer.completion, "id": f"chatcmpl-{job.id}", "created": int(time.time())}
    if not job.stream:
        return Response(orjson.dumps(completion), 200, headers={**headers, "x-gateway-cost-usd": "0.000000000"},
                        media_type="application/json")
    return DisconnectAwareStream(_replay(job, completion), {**headers, **SSE_HEADERS})


async def _replay(job: JobEnvelope, completion: dict[str, Any]) -> Any:
    """A cached answer as the stream it would have been: role, content in word pieces, finish, usage."""
    choice = completion["choices"][0]
    identity = StreamIdentity(completion["id"], completion["created"], completion["model"])

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return sse_data({**identity.chunk(delta, finish), **extra})

    text = choice["message"].get("content") or ""
    pieces = [chunk({"role": "assistant", "content": ""})]
    pieces += [chunk({"content": word}) for word in _words(text)]
    cost = {"x_gateway": {"cost_usd": 0.0, "request_id": job.id, "cache": "HIT"}}
    if job.include_usage:
        pieces.append(chunk({}, choice.get("finish_reason") or "stop"))
        pieces.append(sse_data({**identity.usage_chunk(completion.get("usage")), **cost}))
    else:
        pieces.append(chunk({}, choice.get("finish_reason") or "stop", **cost))
    yield b"".join(pieces) + DONE


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])] if text else []


async def record_hit(gateway: Gateway, job: JobEnvelope, answer: CachedAnswer) -> None:
    """A hit is a request like any other for usage and audit: no tokens processed, no cost."""
    now = time.time()
    entry = UsageEntry(request_id=job.id, organization_id=job.organization_id, tier=job.tier, model=answer.model,
                       user_id=job.user_id, prompt_tokens=0, completion_tokens=0, cost_usd=0.0, cache_hit=True,
                       error=False, time=now)
    audit = accepted_record(job, entry, 200, attempts=[], answer=None, content_mode=gateway.settings.audit.content)
    await gateway.usage.record(entry, audit, job.tokens_key or None, -job.reserved_tokens,
                               reservation=job.reservation)
