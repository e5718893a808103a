"""Small endpoints: models, routing decision, health."""

from __future__ import annotations

import time
from typing import Any

import redis.exceptions
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import acting_organization, authenticate, require_token
from api.completions import decide, policy_for, read_body
from api.errors import error_response
from api.state import Gateway
from api.validation import parse_chat_request
from common import keys
from common.errors import GatewayError
from common.metrics import gauge_lines, scrape_registry
from config import TIER_NAMES, Deployment

#: A model's `created`: when this process started (the config has no date for it), stable across calls.
_STARTED = int(time.time())


async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        await authenticate(request, gateway.tenancy)
    except GatewayError as exc:
        return error_response(exc)
    cooling = await _cooldowns_left(gateway, list(gateway.deployments), time.time())
    data = [_model(d, cooling) for d in gateway.deployments.values()]
    return JSONResponse({"object": "list", "data": data})


async def retrieve_model(request: Request) -> Response:
    """GET /ai/models/{id}: one model, as `client.models.retrieve(id)` reads it; 404 model_not_found."""
    gateway: Gateway = request.app.state.gateway
    name = request.path_params["model"]
    try:
        await authenticate(request, gateway.tenancy)
        deployment = gateway.deployments.get(name)
        if deployment is None:
            raise GatewayError(404, f"The model {name!r} does not exist", "model_not_found", "model")
    except GatewayError as exc:
        return error_response(exc)
    return JSONResponse(_model(deployment, await _cooldowns_left(gateway, [name], time.time())))


def _model(d: Deployment, cooling: dict[str, float]) -> dict[str, Any]:
    """OpenAI's model object, with tiergate's facts: tier, provider, prices, capabilities, availability."""
    return {
        "id": d.name, "object": "model", "created": _STARTED, "owned_by": d.provider,
        "tier": d.tier, "provider": d.provider, "provider_model": d.model_id, "simulated": d.simulated,
        "input_cost_per_token": d.input_cost_per_token, "output_cost_per_token": d.output_cost_per_token,
        "max_input_tokens": d.max_input_tokens, "capabilities": sorted(d.capabilities),
        "available": cooling.get(d.name) is None, "cooldown_seconds_left": cooling.get(d.name),
    }


async def _cooldowns_left(gateway: Gateway, names: list[str], now: float) -> dict[str, float]:
    """Seconds of cooldown left per model in cooldown (workers/resilience.py writes it); {} when Redis is away."""
    try:
        values = await gateway.redis.mget([keys.model_cooldown(n) for n in names])
    except redis.exceptions.RedisError:
        return {}
    return {n: round(float(v) - now, 1) for n, v in zip(names, values, strict=True) if v and float(v) > now}


async def route_preview(request: Request) -> Response:
    """POST /ai/route: the decision for a chat body, without calling a model."""
    gateway: Gateway = request.app.state.gateway
    try:
        caller = await authenticate(request, gateway.tenancy)
        server = gateway.settings.server
        chat = parse_chat_request(await read_body(request, server.max_body_bytes, server.body_timeout_seconds),
                                  gateway.settings.security)
        organization = acting_organization(caller, chat.metadata)
        decision = await decide(gateway, chat, await policy_for(gateway, caller, organization))
    except GatewayError as exc:
        return error_response(exc)
    return JSONResponse({**decision.to_dict(), "organization_id": organization})


async def liveness(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readiness(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        await gateway.redis.ping()
        workers = {tier: await gateway.live_workers.count(tier) for tier in TIER_NAMES}
    except redis.exceptions.RedisError as exc:
        return JSONResponse({"status": "unavailable", "redis": f"unreachable: {type(exc).__name__}"}, 503)
    ready = all(workers.values()) and gateway.listener.connected
    simulated = sorted(d.name for d in gateway.deployments.values() if d.simulated)  # canned answers, not models
    return JSONResponse({"status": "ok" if ready else "unavailable", "redis": "ok", "workers": workers,
                         "simulated_models": simulated}, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text: every process's counters (multiprocess mode), plus queue depth and live workers."""
    gateway: Gateway = request.app.state.gateway
    token = gateway.settings.metrics.bearer_token
    if token:
        try:
            require_token(request, token)
        except GatewayError as exc:
            return error_response(exc)
    body = generate_latest(scrape_registry() or REGISTRY)
    try:
        async with gateway.redis.pipeline(transaction=False) as pipe:
            for tier in TIER_NAMES:
                pipe.llen(keys.queue(tier))
            depths = await pipe.execute()
        live = {tier: await gateway.live_workers.count(tier) for tier in TIER_NAMES}
    except redis.exceptions.RedisError:
        return Response(body, media_type=CONTENT_TYPE_LATEST)
    body += gauge_lines("llm_queue_depth", dict(zip(TIER_NAMES, depths, strict=True)))
    body += gauge_lines("llm_live_workers", live)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
