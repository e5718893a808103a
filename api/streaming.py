"""How a stream is relayed: job events from the reply channel become SSE `chat.completion.chunk`s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive

from api import observe, request_log
from api.errors import error_response
from api.sse import SSE_HEADERS, DisconnectAwareStream
from api.state import Gateway
from api.waiting import ClientGone, next_event, wait_disconnect
from common.chat_shapes import StreamIdentity
from common.errors import WORKER_LOST, GatewayError, deadline_exceeded
from common.jobs import JobEnvelope
from common.sse import DONE, sse_data

KEEPALIVE = b": keep-alive\n\n"


async def relay_stream(gateway: Gateway, receive: Receive, job: JobEnvelope, queue: asyncio.Queue[dict[str, Any]],
                       headers: dict[str, str]) -> Response | DisconnectAwareStream:
    """Wait briefly for the worker's first event so the headers name the model that answers and an early
    failure keeps its HTTP status; past the keep-alive interval, start the stream anyway.

    Every way the stream ends goes through Gateway.finish, which cancels the job if it may still run."""
    disconnected = asyncio.ensure_future(wait_disconnect(receive))
    try:
        first = await next_event(queue, job.deadline, disconnected,
                                 wait_at_most=gateway.settings.server.keepalive_seconds)
    except TimeoutError:  # its worker may have started just now: the stream is cut, with nothing relayed
        await gateway.finish(job, None, 504, relayed=0)
        return error_response(deadline_exceeded(), headers)
    except ClientGone:
        await gateway.finish(job, None, 499, relayed=0)
        return Response(status_code=499)
    finally:
        disconnected.cancel()
    if first is not None and first["type"] == "error":
        await gateway.finish(job, None, first["status"])
        await _settle_if_lost(gateway, job, first, None, 0)
        return error_response(GatewayError.from_event(first), headers)
    if first is not None and first["type"] == "start":
        headers = {**headers, "x-gateway-model": first["model"]}
        observe.first_token(job.tier, first["model"], job.received_at)
        request_log.note_first_token(job.received_at)

    end = _Ending(gateway, job)

    async def on_disconnect() -> None:
        """A client gone before the stream's first write never started its events (whose end finishes it)."""
        await end(first["model"] if first is not None and first["type"] == "start" else None, 499, 0)

    events = _sse_events(gateway, job, queue, first, end)
    return DisconnectAwareStream(events, {**headers, **SSE_HEADERS}, on_disconnect=on_disconnect)


class _Ending:
    """Gateway.finish, once, by whichever sees the stream end first: its events, or the disconnect watcher."""

    def __init__(self, gateway: Gateway, job: JobEnvelope) -> None:
        self._gateway = gateway
        self._job = job
        self._done = False

    async def __call__(self, model: str | None, status: int, relayed: int | None = None) -> None:
        if not self._done:
            self._done = True
            await self._gateway.finish(self._job, model, status, relayed)


async def _sse_events(gateway: Gateway, job: JobEnvelope, queue: asyncio.Queue[dict[str, Any]],
                      first: dict[str, Any] | None, end: _Ending) -> AsyncIterator[bytes]:
    keepalive = gateway.settings.server.keepalive_seconds
    event = first
    model = first["model"] if first is not None and first["type"] == "start" else None
    status = 499  # unless the stream reaches its end: the client left
    relayed = 0  # chunks, for billing a stream whose worker dies
    unended = True  # no last event from the worker (its end, its error) reached the client
    try:
        while True:
            if event is not None:
                kind = event["type"]
                if kind == "start" and model is None:
                    model = event["model"]
                    observe.first_token(job.tier, model, job.received_at)
                    request_log.note_first_token(job.received_at)
                elif kind == "sse":  # chunks the worker framed already (common/jobs.py encode_sse)
                    relayed += event["data"].count(b"data: ")
                    yield event["data"]
                elif kind == "end":
                    status, unended = 200, False
                    request_log.note(cost_usd=event.get("cost", 0.0))
                    closing = _closing_chunks(job, event, event.get("finishing"))
                    yield b"".join(sse_data(chunk) for chunk in closing) + DONE
                    return
                elif kind == "error":
                    status, unended = event["status"], False
                    yield sse_data({"error": event["error"]}) + DONE
                    await _settle_if_lost(gateway, job, event, model, relayed)
                    return
            try:
                event = await next_event(queue, job.deadline, wait_at_most=keepalive)
            except TimeoutError:
                status = 504
                yield sse_data(deadline_exceeded().body()) + DONE
                return
            if event is None:
                yield KEEPALIVE
    finally:  # however the stream ends (done, error, deadline, client gone): a job still running is cancelled
        request_log.note(outcome=status, model=model)
        await end(model, status, relayed if unended else None)


async def _settle_if_lost(gateway: Gateway, job: JobEnvelope, error: dict[str, Any], model: str | None,
                          relayed: int) -> None:
    """Count here a stream cut where its worker may never count it: its worker died (its rescuer sent
    worker_lost), or, after chunks went out, this process lost its reply channel (Redis restarting; its worker
    may die meanwhile). Counted once by request id: if the worker counts it first, this changes nothing."""
    if error["error"].get("code") == WORKER_LOST:
        await gateway.settle_lost(job, model, relayed, 502)
    elif error.get("reply_lost") and relayed:
        await gateway.settle_lost(job, model, relayed, error["status"])


def _closing_chunks(job: JobEnvelope, end: dict[str, Any], finishing: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The finish_reason chunk, then the usage chunk when asked for; the last of them carries the cost
    (`x_gateway.cost_usd`). No choice-less chunk is sent unless asked for: clients index choices[0]."""
    cost = {"cost_usd": end.get("cost", 0.0), "request_id": job.id}
    chunks = [finishing] if finishing else []
    if job.include_usage:
        identity = StreamIdentity(f"chatcmpl-{job.id}", int(time.time()), end["model"])
        chunks.append(identity.usage_chunk(end.get("usage")))
    if chunks:
        chunks[-1] = {**chunks[-1], "x_gateway": cost}
    return chunks
