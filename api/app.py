"""The Starlette application: routes and the process's lifetime (Redis pool, reply listener)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
import redis.exceptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from api import admin, http_limits
from api.backpressure import redis_unavailable
from api.completions import chat_completions
from api.cors import cors
from api.dashboard import dashboard, dashboard_data
from api.edge import RequestIdMiddleware, http_error
from api.endpoints import list_models, liveness, metrics, readiness, retrieve_model, route_preview
from api.inspection import queues
from api.request_log import RequestLogMiddleware
from api.state import Gateway
from api.usage import usage
from common import inflight, logs, recent
from common.metrics import mark_process_dead
from common.redis_url import redis_url
from config import TIER_NAMES, Settings, load_settings
from records.database import database_url
from records.repository import Records

log = logging.getLogger("tiergate.api")


def create_app(settings: Settings | None = None, redis_address: str | None = None,
               database: str | None = None) -> Starlette:
    if os.environ.get(logs.FORMAT_ENV):  # started by `tiergate api`: a uvicorn worker process logs as it asked
        logs.configure()
    settings = settings or load_settings()
    address = redis_address or redis_url()
    http_limits.configure(settings.server.max_header_bytes, settings.server.header_timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Blocking pool: under a burst a request waits (5 s at most) for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(address, max_connections=256, timeout=5,
                                                       socket_connect_timeout=2, health_check_interval=30)
        redis = aioredis.Redis(connection_pool=pool)
        records = Records.connect(database or database_url())
        gateway = Gateway.build(settings, redis, records)
        await gateway.listener.start()
        app.state.gateway = gateway
        # Every tier: the rescue happens even if a tier lost every worker.
        watchdog = asyncio.create_task(inflight.watch(redis, list(TIER_NAMES), gateway.lost_streams))
        admin_writes = asyncio.create_task(gateway.tenancy.listen())
        figures = asyncio.create_task(recent.flush_forever(redis))  # the dashboard's per-tier figures
        try:
            yield
        finally:
            mark_process_dead(os.getpid())
            watchdog.cancel()
            admin_writes.cancel()
            figures.cancel()
            await gateway.listener.stop()
            await redis.aclose()
            await records.close()

    routes = [
        Route("/ai/chat/completions", chat_completions, methods=["POST"]),
        Route("/ai/models", list_models, methods=["GET"]),
        Route("/ai/models/{model:path}", retrieve_model, methods=["GET"]),
        Route("/ai/route", route_preview, methods=["POST"]),
        Route("/ai/usage", usage, methods=["GET"]),
        Route("/ai/admin/organizations", admin.list_organizations, methods=["GET"]),
        Route("/ai/admin/organizations", admin.create_organization, methods=["POST"]),
        Route("/ai/admin/keys", admin.list_keys, methods=["GET"]),
        Route("/ai/admin/keys", admin.create_key, methods=["POST"]),
        Route("/ai/admin/keys/{key_id}", admin.revoke_key, methods=["DELETE"]),
        Route("/ai/admin/audit", admin.list_audit, methods=["GET"]),
        Route("/ai/queues", queues, methods=["GET"]),
        Route("/ai/dashboard", dashboard, methods=["GET"]),
        Route("/ai/dashboard/data", dashboard_data, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/health/liveness", liveness, methods=["GET"]),
        Route("/health/readiness", readiness, methods=["GET"]),
        # LiteLLM's paths, for clients configured for it
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
        Route("/health/liveliness", liveness, methods=["GET"]),
    ]
    middleware = [*cors(settings.server.cors_origins), Middleware(RequestIdMiddleware),
                  Middleware(RequestLogMiddleware)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware,
                     exception_handlers={redis.exceptions.RedisError: redis_unavailable,
                                         HTTPException: http_error})
