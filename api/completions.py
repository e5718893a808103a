"""POST /ai/chat/completions: authenticate, validate, route, enqueue, then answer or relay the stream."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import redis.exceptions
from starlette.requests import Request
from starlette.responses import Response

from api import jobs
from api.auth import Caller, acting_organization, authenticate
from api.errors import error_response
from api.headers import gateway_headers
from api.state import Gateway
from api.streaming import relay_stream
from api.validation import ChatRequest, parse_chat_request
from api.waiting import ClientGone, next_event, wait_disconnect
from common.errors import GatewayError
from common.jobs import JobEnvelope
from routing import RouteDecision, RouteRequest, RoutingError


async def chat_completions(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        caller = authenticate(request, gateway.settings.general_settings.master_key)
        chat = parse_chat_request(await read_body(request, gateway.settings.server.max_body_bytes))
        organization = acting_organization(caller, chat.metadata)
        decision = decide(gateway, chat, caller, organization)
        job = await admit(gateway, request, chat, decision, organization)
    except GatewayError as exc:
        return error_response(exc)
    headers = gateway_headers(job.id, decision, decision.models[0])
    if chat.stream:
        return await relay_stream(gateway, request, job, chat, decision, headers)
    return await answer_whole(gateway, request, job, decision)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(413, f"the body is over the {limit} byte limit", "request_too_large")
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise GatewayError(413, f"the body is over the {limit} byte limit", "request_too_large")
    return body


def decide(gateway: Gateway, chat: ChatRequest, caller: Caller, organization: str) -> RouteDecision:
    plan = gateway.settings.plan_for(organization)
    if plan is None:
        if not caller.is_master:
            raise GatewayError(403, f"organization {organization!r} has no plan", "unknown_organization")
        max_tier = 4
    else:
        max_tier = plan[1].max_tier
    try:
        return gateway.router.decide(RouteRequest(chat.messages, chat.metadata, chat.model, max_tier))
    except RoutingError as exc:
        raise GatewayError(exc.status, exc.message, exc.code, exc.param) from None


async def admit(gateway: Gateway, request: Request, chat: ChatRequest, decision: RouteDecision,
                organization: str) -> JobEnvelope:
    """The job for this request, once its tier can take it (503 at once when no worker serves the tier)."""
    tier = gateway.settings.tiers[decision.tier]
    budget = tier.deadline_seconds
    asked = chat.timeout or _header_seconds(request.headers.get("x-gateway-timeout"))
    if asked:
        budget = min(budget, asked)
    try:
        if await gateway.live_workers.count(decision.tier) == 0:
            raise GatewayError(503, f"no live worker serves {decision.tier}", "no_worker", retry_after=5)
    except redis.exceptions.RedisError:
        raise GatewayError(503, "the job queue is unavailable", "queue_unavailable", retry_after=2) from None
    return JobEnvelope(
        id=uuid.uuid4().hex, reply_to=gateway.listener.channel, tier=decision.tier, models=list(decision.models),
        body=chat.body, stream=chat.stream, deadline=time.time() + budget, organization_id=organization,
        include_usage=chat.include_usage, metadata=chat.metadata,
    )


async def answer_whole(gateway: Gateway, request: Request, job: JobEnvelope, decision: RouteDecision) -> Response:
    queue = gateway.listener.register(job.id)
    disconnected = asyncio.ensure_future(wait_disconnect(request.receive))
    try:
        await _enqueue(gateway, job)
        while True:
            event = await next_event(queue, job.deadline, disconnected)
            if event is None:
                continue
            if event["type"] == "result":
                headers = gateway_headers(job.id, decision, event["model"])
                headers["x-gateway-cost-usd"] = f"{event['cost']:.9f}"
                return Response(orjson.dumps(event["completion"]), 200, headers=headers,
                                media_type="application/json")
            if event["type"] == "error":
                return error_response(GatewayError.from_event(event), gateway_headers(job.id, decision, "none"))
    except GatewayError as exc:
        return error_response(exc, gateway_headers(job.id, decision, "none"))
    except TimeoutError:
        await jobs.cancel(gateway.redis, job.id)
        return error_response(GatewayError(504, "the request did not finish before its deadline",
                                           "deadline_exceeded"), gateway_headers(job.id, decision, "none"))
    except ClientGone:
        await jobs.cancel(gateway.redis, job.id)
        return Response(status_code=499)
    finally:
        disconnected.cancel()
        gateway.listener.unregister(job.id)


async def _enqueue(gateway: Gateway, job: JobEnvelope) -> None:
    try:
        await jobs.enqueue(gateway.redis, job)
    except redis.exceptions.RedisError:
        raise GatewayError(503, "the job queue is unavailable", "queue_unavailable", retry_after=2) from None


def _header_seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        raise GatewayError(400, "x-gateway-timeout: must be a number of seconds", "invalid_request") from None
    return seconds if seconds and seconds > 0 else None
