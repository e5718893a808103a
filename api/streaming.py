"""How a stream is relayed: job events from the reply channel become SSE `chat.completion.chunk`s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api import jobs
from api.errors import error_response
from api.headers import gateway_headers
from api.sse import SSE_HEADERS, DisconnectAwareStream
from api.state import Gateway
from api.validation import ChatRequest
from api.waiting import next_event
from common.errors import GatewayError
from common.jobs import JobEnvelope
from routing import RouteDecision

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


def sse_data(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def relay_stream(gateway: Gateway, request: Request, job: JobEnvelope, chat: ChatRequest,
                       decision: RouteDecision, headers: dict[str, str]) -> Response | DisconnectAwareStream:
    """Wait briefly for the worker's first event so the headers name the model that answers and an early
    failure keeps its HTTP status; past the keep-alive interval, start the stream anyway."""
    queue = gateway.listener.register(job.id)
    try:
        await jobs.enqueue(gateway.redis, job)
        first = await next_event(queue, job.deadline, wait_at_most=gateway.settings.server.keepalive_seconds)
    except TimeoutError:
        gateway.listener.unregister(job.id)
        await jobs.cancel(gateway.redis, job.id)
        return error_response(GatewayError(504, "the request did not finish before its deadline",
                                           "deadline_exceeded"), headers)
    except Exception:
        gateway.listener.unregister(job.id)
        return error_response(GatewayError(503, "the job queue is unavailable", "queue_unavailable",
                                           retry_after=2), headers)
    if first is not None and first["type"] == "error":
        gateway.listener.unregister(job.id)
        return error_response(GatewayError.from_event(first), headers)
    if first is not None and first["type"] == "start":
        headers = gateway_headers(job.id, decision, first["model"])

    async def on_disconnect() -> None:
        await jobs.cancel(gateway.redis, job.id)

    events = _sse_events(gateway, job, chat, queue, first)
    return DisconnectAwareStream(events, {**headers, **SSE_HEADERS}, on_disconnect=on_disconnect)


async def _sse_events(gateway: Gateway, job: JobEnvelope, chat: ChatRequest, queue: asyncio.Queue[dict[str, Any]],
                      first: dict[str, Any] | None) -> AsyncIterator[bytes]:
    keepalive = gateway.settings.server.keepalive_seconds
    event = first
    try:
        while True:
            if event is not None:
                kind = event["type"]
                if kind == "chunk":
                    yield b"".join(sse_data(chunk) for chunk in event["chunks"])
                elif kind == "end":
                    if chat.include_usage:
                        yield sse_data(_usage_chunk(job, event))
                    yield DONE
                    return
                elif kind == "error":
                    yield sse_data({"error": event["error"]}) + DONE
                    return
            try:
                event = await next_event(queue, job.deadline, wait_at_most=keepalive)
            except TimeoutError:
                await jobs.cancel(gateway.redis, job.id)
                error = GatewayError(504, "the request did not finish before its deadline", "deadline_exceeded")
                yield sse_data(error.body()) + DONE
                return
            if event is None:
                yield KEEPALIVE
    finally:
        gateway.listener.unregister(job.id)


def _usage_chunk(job: JobEnvelope, end: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"chatcmpl-{job.id}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": end["model"], "choices": [], "usage": end.get("usage")}
