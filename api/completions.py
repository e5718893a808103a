"""POST /ai/chat/completions: authenticate, validate, route, admit, enqueue, then answer or relay the stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.exceptions
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from api import cache, observe, request_log
from api.auth import OPERATOR_ORGANIZATION, Caller, acting_organization, authenticate
from api.backpressure import check_workers, push
from api.edge import request_id
from api.errors import error_response
from api.headers import gateway_headers
from api.needs import request_needs
from api.ratelimit import Admission
from api.state import Gateway
from api.streaming import relay_stream
from api.tenancy import OPERATOR_POLICY, OrgPolicy
from api.validation import ChatRequest, parse_chat_request
from api.waiting import ClientGone, next_event, wait_disconnect
from common import keys
from common.audit import append_audit, refusal_record
from common.budget import asked_completion_tokens, reservation_for
from common.cache import CacheControl
from common.errors import GatewayError, deadline_exceeded, internal_failure, queue_unavailable
from common.jobs import JobEnvelope
from common.tokens import prompt_tokens
from common.usage import NANO, period_of
from routing import RouteDecision, RouteRequest, RoutingError

log = logging.getLogger("tiergate.api")


@dataclass
class Intake:
    """What is known of a request so far; enough for its audit record if it is refused."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_at: float = field(default_factory=time.time)
    caller: Caller | None = None
    chat: ChatRequest | None = None
    organization: str | None = None
    decision: RouteDecision | None = None
    cache: CacheControl | None = None
    policy: OrgPolicy | None = None


async def chat_completions(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    intake = Intake(request_id(request.scope))
    try:
        job, decision, admission = await _accept(gateway, request, intake)
    except Exception as exc:
        error = _as_gateway_error(intake, exc)
        await _audit_refusal(gateway, intake, error)
        observe.answered(intake.decision.tier if intake.decision else "none", None, error.status, intake.received_at)
        headers = {"x-request-id": intake.request_id}
        if intake.policy is not None and not error.headers:  # refused before admission: the windows as they stand
            headers.update(await gateway.limiter.current_headers(intake.policy))
        return error_response(error, headers)
    observe.started(job.tier)
    try:
        return await _answer(gateway, request, job, decision, admission, intake)
    except asyncio.CancelledError:
        await gateway.finish(job, None, 499)  # the slot and the active gauge, at least
        raise
    except Exception as exc:
        # Nothing taken at admission outlives a failure: the slot, the active gauge and the allowance.
        error = _as_gateway_error(intake, exc)
        await gateway.finish(job, None, error.status)
        await gateway.limiter.give_back(admission, job.id)
        await _audit_refusal(gateway, intake, error)
        return error_response(error, {"x-request-id": intake.request_id})


async def _answer(gateway: Gateway, request: Request, job: JobEnvelope, decision: RouteDecision,
                  admission: Admission, intake: Intake) -> Response:
    headers = {**gateway_headers(job.id, decision, decision.models[0]), **admission.headers()}
    assert intake.cache is not None
    cached = await cache.consult(gateway, job, intake.cache)
    if cached is not None:
        await cache.record_hit(gateway, job, cached)
        await gateway.finish(job, cached.model, 200)
        return cache.hit_response(job, cached, headers)
    # Before the push: no event can come before its listener. A sync job's answer is kept (api/relay.py).
    events = gateway.listener.register(job.id, kept=not job.stream)
    try:
        await push(gateway, job)
    except GatewayError as exc:  # refused at the queue: nothing taken at admission is kept
        await gateway.finish(job, None, exc.status)
        await gateway.limiter.give_back(admission, job.id)
        await _audit_refusal(gateway, intake, exc)
        return error_response(exc, headers)
    if job.stream:
        return await relay_stream(gateway, request.receive, job, events, headers)
    response = await answer_whole(gateway, request, job, events, headers)
    # After the answer has been sent: the client need not wait for the bookkeeping.
    response.background = BackgroundTask(gateway.finish, job, response.headers.get("x-gateway-model"),
                                         response.status_code)
    return response


def _as_gateway_error(intake: Intake, exc: Exception) -> GatewayError:
    """What a failure answers: a refusal as raised; Redis away, 503; anything else is a bug, 500 (logged)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, redis.exceptions.RedisError):
        log.warning("request %s: Redis unavailable (%s)", intake.request_id, exc)
        return queue_unavailable()
    log.error("request %s failed", intake.request_id, exc_info=exc)
    return internal_failure(intake.request_id)


async def _accept(gateway: Gateway, request: Request, intake: Intake) -> tuple[JobEnvelope, RouteDecision, Admission]:
    intake.caller = await authenticate(request, gateway.tenancy)
    server = gateway.settings.server
    intake.chat = chat = parse_chat_request(
        await read_body(request, server.max_body_bytes, server.body_timeout_seconds), gateway.settings.security)
    settings = gateway.settings.litellm_settings
    intake.cache = CacheControl.from_request(chat.cache, chat.body.get("temperature"), settings.cache,
                                             settings.cache_ttl)
    intake.organization = acting_organization(intake.caller, chat.metadata)
    request_log.note(organization=intake.organization)
    intake.policy = policy = await policy_for(gateway, intake.caller, intake.organization)
    intake.decision = decision = await decide(gateway, chat, policy)
    job = await admit(gateway, request, chat, decision, intake)
    reservation = reservation_for(job.estimated_tokens, asked_completion_tokens(chat.body),
                                  [gateway.deployments[name] for name in decision.models], chat.body.get("n") or 1)
    try:
        admission = await gateway.limiter.admit(policy, job.id, job.user_id, reservation,
                                                hold_seconds=job.deadline - time.time() + 5)
    except redis.exceptions.RedisError:
        raise queue_unavailable() from None
    job.tokens_key = admission.tokens_key
    job.reserved_tokens, job.reserved_nusd = admission.reserved_tokens, admission.reserved_nusd
    job.holds_slot = bool(policy.max_concurrent)
    job.budget_usd, job.budget_soft_ratio = policy.monthly_budget_usd, policy.budget_soft_ratio
    await remember_tier(gateway, chat, policy.organization_id, decision)
    return job, decision, admission


async def read_body(request: Request, limit: int, timeout: float = 10.0) -> bytes:
    """The whole body, refused past `limit` bytes (413) or `timeout` seconds (408: a slow or short body)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(413, f"the body is over the {limit} byte limit", "request_too_large")
    body = b""
    try:
        async with asyncio.timeout(timeout):
            async for part in request.stream():
                body += part
                if len(body) > limit:
                    raise GatewayError(413, f"the body is over the {limit} byte limit", "request_too_large")
    except TimeoutError:
        raise GatewayError(408, f"the body did not arrive within {timeout:g}s", "request_timeout",
                           headers={"connection": "close"}) from None
    except ClientDisconnect:
        raise GatewayError(499, "the client closed the connection before sending its body",
                           "client_closed_request") from None
    return body


async def policy_for(gateway: Gateway, caller: Caller, organization: str) -> OrgPolicy:
    if caller.is_master and organization == OPERATOR_ORGANIZATION:
        return OPERATOR_POLICY  # the operator's own traffic, named for no organization: no plan applies
    try:
        policy = await gateway.tenancy.policy(organization)
    except redis.exceptions.RedisError:
        raise queue_unavailable() from None
    if policy is None:
        raise GatewayError(403, f"organization {organization!r} is not known and there is no default plan",
                           "unknown_organization", "metadata.organization_id")
    return policy


async def decide(gateway: Gateway, chat: ChatRequest, policy: OrgPolicy) -> RouteDecision:
    """The route, with the plan's cap and, past the soft budget threshold, the budget's cap."""
    auto = chat.model in (None, "auto")
    budget_max_tier = budget_note = None
    conversation = _conversation_key(policy.organization_id, chat.metadata) if auto else None
    # The counters admission checks, read as they stand, in the same round trip as the conversation's tier:
    # spend and what requests in flight hold, so the soft cap holds from the first request after the crossing,
    # even when the request that crossed it has been answered but not yet settled.
    money = [keys.spend(policy.organization_id, period_of(time.time())), keys.reserved_total(policy.organization_id)] \
        if policy.monthly_budget_usd and auto else []
    wanted = [*money, *([conversation] if conversation else [])]
    found = dict(zip(wanted, await gateway.redis.mget(wanted), strict=True)) if wanted else {}
    if money:
        ratio = sum(int(found[key] or 0) for key in money) / NANO / policy.monthly_budget_usd
        if ratio >= policy.budget_soft_ratio:
            budget_max_tier = policy.budget_soft_max_tier
            budget_note = f"{ratio:.0%} of the monthly budget spent"
    previous = found.get(conversation) if conversation else None
    request = RouteRequest(chat.messages, chat.metadata, chat.model, policy.max_tier,
                           organization_id=policy.organization_id, plan_name=policy.plan,
                           previous_tier=int(previous) if previous else None, budget_max_tier=budget_max_tier,
                           budget_note=budget_note, needs=request_needs(chat))
    try:
        decision = gateway.router.decide(request)
    except RoutingError as exc:
        raise GatewayError(exc.status, exc.message, exc.code, exc.param) from None
    return decision


async def remember_tier(gateway: Gateway, chat: ChatRequest, organization_id: str, decision: RouteDecision) -> None:
    """After admission (a refused or previewed request changes no state): this conversation's tier, for the
    stickiness rule of its next turn."""
    conversation = _conversation_key(organization_id, chat.metadata) if chat.model in (None, "auto") else None
    ttl = gateway.router.settings.stickiness.ttl_seconds
    if conversation and ttl:
        with contextlib.suppress(redis.exceptions.RedisError):  # stickiness is a refinement, not a reason to fail
            await gateway.redis.set(conversation, decision.tier_number, ex=ttl)


def _conversation_key(organization_id: str, metadata: dict[str, Any]) -> str | None:
    """Stickiness state of this conversation (the rule itself lives in routing/)."""
    conversation = metadata.get("conversation_id")
    if not isinstance(conversation, str | int) or not str(conversation) or len(str(conversation)) > 128:
        return None
    return keys.conversation_tier(organization_id, str(conversation))


async def admit(gateway: Gateway, request: Request, chat: ChatRequest, decision: RouteDecision,
                intake: Intake) -> JobEnvelope:
    """The job for this request, once its tier has a live worker (503 at once if not)."""
    tier = gateway.settings.tiers[decision.tier]
    budget = tier.deadline_seconds
    asked = chat.timeout or _header_seconds(request.headers.get("x-gateway-timeout"))
    if asked:
        budget = min(budget, asked)
    await check_workers(gateway, decision.tier)
    assert intake.caller is not None and intake.organization is not None
    return JobEnvelope(
        id=intake.request_id, reply_to=gateway.listener.channel, tier=decision.tier, models=list(decision.models),
        body=chat.body, stream=chat.stream, deadline=time.time() + budget, organization_id=intake.organization,
        include_usage=chat.include_usage, metadata=chat.metadata, received_at=intake.received_at,
        key_id=intake.caller.key_id, route=decision.to_dict(), flags=chat.flags,
        estimated_tokens=prompt_tokens(chat.messages),
    )


async def answer_whole(gateway: Gateway, request: Request, job: JobEnvelope, queue: asyncio.Queue[dict[str, Any]],
                       headers: dict[str, str]) -> Response:
    disconnected = asyncio.ensure_future(wait_disconnect(request.receive))
    try:
        while True:
            event = await next_event(queue, job.deadline, disconnected)
            if event is None:
                continue
            if event["type"] == "result":
                answered = {**headers, "x-gateway-model": event["model"], "x-gateway-cost-usd": f"{event['cost']:.9f}"}
                return Response(orjson.dumps(event["completion"]), 200, headers=answered,
                                media_type="application/json")
            if event["type"] == "error":
                return error_response(GatewayError.from_event(event), headers)
    except TimeoutError:  # the job is cancelled as the request ends (Gateway.finish), like any it gave up on
        return error_response(deadline_exceeded(), headers)
    except ClientGone:
        return Response(status_code=499)
    finally:
        disconnected.cancel()


async def _audit_refusal(gateway: Gateway, intake: Intake, error: GatewayError) -> None:
    chat = intake.chat
    record = refusal_record(
        intake.request_id, error.status, error.code, error.message, organization_id=intake.organization,
        key_id=intake.caller.key_id if intake.caller else None, metadata=chat.metadata if chat else None,
        messages=chat.messages if chat else None, content_mode=gateway.settings.audit.content,
        flags=chat.flags if chat else None, route=intake.decision.to_dict() if intake.decision else None)
    with contextlib.suppress(redis.exceptions.RedisError):  # Redis down: the refusal is answer enough
        await append_audit(gateway.redis, record)


def _header_seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        raise GatewayError(400, "x-gateway-timeout: must be a number of seconds", "invalid_request") from None
    return seconds if seconds and seconds > 0 else None


