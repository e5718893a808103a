"""One log line per request: who, which tier and model, why, and how it went (never the prompt).

A pure ASGI middleware measures the status and the latency and reads what the answer's headers say (tier,
model, route reasons, cache, cost of a sync answer); the handlers add what only they know through `note`
(the organization, a stream's first token, its cost and its outcome after the 200 was sent).
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.edge import REQUEST_ID
from common.logs import REQUEST_LOG_ENV

log = logging.getLogger("tiergate.requests")

#: Probes, scrapes and the dashboard's polling, every few seconds, would drown the requests.
QUIET_PATHS = ("/health/", "/metrics", "/ai/dashboard")
IN_SUMMARY = frozenset({"method", "path", "status", "latency_ms"})  # a text line says them first
_HEADERS = {b"x-gateway-tier": "tier", b"x-gateway-model": "model", b"x-gateway-route-reason": "route_reasons",
            b"x-gateway-cache": "cache", b"x-gateway-cost-usd": "cost_usd"}


@dataclass
class _Facts:
    started: float
    fields: dict[str, Any]


_CURRENT: contextvars.ContextVar[_Facts | None] = contextvars.ContextVar("tiergate_request_facts", default=None)


def note(**fields: Any) -> None:
    """Add fields to the current request's line (nothing when no line is being kept)."""
    facts = _CURRENT.get()
    if facts is not None:
        facts.fields.update(fields)


def note_first_token(received_at: float) -> None:
    note(ttft_ms=round((time.time() - received_at) * 1000, 1))


def enabled() -> bool:
    return os.environ.get(REQUEST_LOG_ENV, "1") != "0"


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.enabled = enabled()
        if self.enabled:
            log.setLevel(logging.INFO)  # even when the process logs only warnings (`up`)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or scope["path"].startswith(QUIET_PATHS):
            await self.app(scope, receive, send)
            return
        facts = _Facts(time.time(), {"status": None})
        token = _CURRENT.set(facts)
        error_body = b""

        async def send_noting(message: Message) -> None:
            nonlocal error_body
            if message["type"] == "http.response.start":
                facts.fields["status"] = status = message["status"]
                for name, value in message.get("headers", ()):
                    if name in _HEADERS:
                        facts.fields.setdefault(_HEADERS[name], value.decode("latin-1"))
                if status >= 400:
                    error_body = b"?"
            elif error_body and len(error_body) < 4096:
                error_body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        except BaseException:
            facts.fields["status"] = facts.fields["status"] or 500
            raise
        finally:
            _CURRENT.reset(token)
            _emit(scope, facts, error_body[1:])


def _emit(scope: Scope, facts: _Facts, error_body: bytes) -> None:
    fields = facts.fields
    status = fields.pop("status") or 499  # no answer started: the client went away first
    outcome = fields.pop("outcome", status)  # a stream's own ending, after its 200
    line: dict[str, Any] = {"request_id": scope.get(REQUEST_ID), "method": scope["method"], "path": scope["path"],
                            "status": outcome, "latency_ms": round((time.time() - facts.started) * 1000, 1)}
    if "cost_usd" in fields:
        fields["cost_usd"] = float(fields["cost_usd"])
    if error_body:
        fields.setdefault("error", _error_code(error_body))
    line.update(fields)
    summary = f"{scope['method']} {scope['path']} {outcome} {line['latency_ms']:.0f}ms"
    log.log(logging.WARNING if outcome >= 500 else logging.INFO, summary,
            extra={"fields": line, "text_skip": IN_SUMMARY})


def _error_code(body: bytes) -> str | None:
    try:
        error = orjson.loads(body)["error"]
        return str(error.get("code") or error.get("type"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
