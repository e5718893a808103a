"""The one place a provider is called over HTTP: whole answers and SSE streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from config import Deployment
from workers.providers.base import Adapter, ProviderError, SSEEvent, StreamTranslator


def new_client(max_connections: int = 1000) -> httpx.AsyncClient:
    """One pooled client per worker process; keep-alive connections are reused across jobs."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections // 4,
                          keepalive_expiry=30)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0, connect=5.0), http2=False)


async def call_whole(client: httpx.AsyncClient, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                     timeout: float) -> dict[str, Any]:
    call = adapter.request(deployment, body, stream=False)
    try:
        response = await client.post(call.url, headers=call.headers, content=orjson.dumps(call.json), timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ProviderError("timeout", f"no answer within {timeout:.1f}s") from exc
    except httpx.TransportError as exc:
        raise ProviderError("connection", type(exc).__name__) from exc
    if response.status_code >= 400:
        raise adapter.error(response.status_code, _json_or_text(response.content), dict(response.headers))
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ProviderError("malformed", "answer is not JSON", response.status_code) from exc
    return adapter.response(deployment, data)


async def call_stream(client: httpx.AsyncClient, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                      timeout: float, translator: StreamTranslator) -> AsyncIterator[list[dict[str, Any]]]:
    """Yields lists of OpenAI chunks as the provider sends them. Closing the generator closes the connection."""
    call = adapter.request(deployment, body, stream=True)
    request = client.build_request("POST", call.url, headers=call.headers, content=orjson.dumps(call.json),
                                   timeout=timeout)
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise ProviderError("timeout", f"no answer within {timeout:.1f}s") from exc
    except httpx.TransportError as exc:
        raise ProviderError("connection", type(exc).__name__) from exc
    try:
        if response.status_code >= 400:
            await response.aread()
            raise adapter.error(response.status_code, _json_or_text(response.content), dict(response.headers))
        async for event in iter_sse(response):
            chunks = translator.translate(event)
            if chunks:
                yield chunks
    except httpx.TimeoutException as exc:
        raise ProviderError("timeout", "stream stalled") from exc
    except httpx.TransportError as exc:
        raise ProviderError("connection", f"stream broken: {type(exc).__name__}") from exc
    finally:
        await response.aclose()


async def iter_sse(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """Server-sent events per the WHATWG rules that providers use (event/data fields, blank-line dispatch)."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = None, []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield SSEEvent(event, "\n".join(data))


def _json_or_text(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace")[:500]
