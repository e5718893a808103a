"""Server-sent events as OpenAI frames stream chunks: the worker frames provider chunks, the API the rest."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def sse_data(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying a JSON payload."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"
