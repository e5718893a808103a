"""OpenAI-format error responses."""

from __future__ import annotations

import math

import orjson
from starlette.responses import Response

from common.errors import GatewayError


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    merged = {**(headers or {}), **error.headers}
    if error.retry_after is not None:
        merged["retry-after"] = str(max(1, math.ceil(error.retry_after)))
    return Response(orjson.dumps(error.body()), error.status, headers=merged, media_type="application/json")
