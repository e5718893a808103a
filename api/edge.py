"""What every answer gets, whatever happened: an `x-request-id`, and the OpenAI error body for unknown routes,
wrong methods and failures nobody expected (a 500 is counted in the metrics and leaves an audit record)."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

import redis.exceptions
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import observe
from api.errors import error_response
from common.audit import append_audit, refusal_record
from common.errors import GatewayError, internal_failure

log = logging.getLogger("tiergate.api")

#: Where the request id lives in the ASGI scope (set by RequestIdMiddleware, used as the job id).
REQUEST_ID = "tiergate.request_id"
_HEADER = b"x-request-id"


def request_id(scope: Scope) -> str:
    """This request's id (one is made when the middleware is not in front, e.g. in unit tests)."""
    return scope.get(REQUEST_ID) or scope.setdefault(REQUEST_ID, uuid.uuid4().hex)


class RequestIdMiddleware:
    """Give each HTTP request an id, put it on the answer unless the handler named one already, and turn an
    unexpected exception into an OpenAI-format 500 (after the first byte, the connection is closed instead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[REQUEST_ID] = rid = uuid.uuid4().hex
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.setdefault("headers", [])
                if not any(name == _HEADER for name, _ in headers):
                    headers = message["headers"] = list(headers)
                    headers.append((_HEADER, rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            response = await internal_error(Request(scope), exc)
            await response(scope, receive, send)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method), in the OpenAI format."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = GatewayError(404, f"unknown route: {request.method} {request.url.path}", "not_found")
    elif exc.status_code == 405:
        error = GatewayError(405, f"method {request.method} is not allowed on {request.url.path}",
                             "method_not_allowed", type_="invalid_request_error", headers=dict(exc.headers or {}))
    else:
        error = GatewayError(exc.status_code, str(exc.detail), type_="invalid_request_error")
    return error_response(error, {"x-request-id": request_id(request.scope)})


async def internal_error(request: Request, exc: Exception) -> Response:
    """A failure nobody expected: a 500 in the OpenAI format, counted and audited, never a bare text page."""
    rid = request_id(request.scope)
    log.error("request %s failed: %s %s", rid, request.method, request.url.path, exc_info=exc)
    observe.answered("none", None, 500, time.time())
    error = internal_failure(rid)
    gateway = getattr(request.scope["app"].state, "gateway", None) if "app" in request.scope else None
    if gateway is not None:
        record = refusal_record(rid, 500, error.code, error.message, organization_id=None, key_id=None)
        with contextlib.suppress(redis.exceptions.RedisError):
            await append_audit(gateway.redis, record)
    return error_response(error, {"x-request-id": rid})

