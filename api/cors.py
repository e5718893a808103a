"""CORS for browser clients: only the origins `server.cors_origins` lists (none by default), preflight answered."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

#: The gateway's own headers a browser page may read.
_EXPOSED = ["x-request-id", "x-gateway-tier", "x-gateway-model", "x-gateway-route-reason", "x-gateway-cache",
            "x-gateway-cost-usd", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens", "retry-after"]


def cors(origins: list[str]) -> list[Middleware]:
    """The CORS middleware for `origins` (["*"]: any), or none when the list is empty."""
    if not origins:
        return []
    return [Middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       # any request header: the OpenAI SDKs send a changing set of x-stainless-* ones, and
                       # without cookies (allow_credentials=False) a header grants the page nothing it lacks
                       allow_headers=["*"], expose_headers=_EXPOSED,
                       allow_credentials=False, max_age=600)]
