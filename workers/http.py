"""The one place a provider is called over HTTP: whole answers and SSE streams."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from config import Deployment
from workers.providers.base import Adapter, ProviderError, SSEEvent, StreamTranslator

#: Connection pools per worker process. httpcore scans its whole pool on every request and every release
#: (with a quadratic step and one poll() per idle connection), so one pool of 300 connections costs more CPU
#: than the provider call itself; eight pools of ~40 keep each scan short.
POOL_SHARDS = 8


class ShardedClient(httpx.AsyncClient):
    """An httpx client whose requests go round-robin to `shards` inner clients, each with its own pool."""

    def __init__(self, shards: int, limits: httpx.Limits, **options: Any) -> None:
        super().__init__(limits=limits, **options)
        self._shards = [httpx.AsyncClient(limits=limits, **options) for _ in range(shards)]
        self._next = 0

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        shard = self._shards[self._next]
        self._next = (self._next + 1) % len(self._shards)
        return await shard.send(request, **kwargs)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
        await super().aclose()


def new_client(max_connections: int = 1000, shards: int = POOL_SHARDS) -> httpx.AsyncClient:
    """One pooled client per worker process; keep-alive connections are reused across jobs."""
    per_shard = max(1, max_connections // shards)
    # Idle connections are kept (not closed as surplus) until keepalive_expiry: reconnecting costs more.
    limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard, keepalive_expiry=30)
    return ShardedClient(shards, limits, timeout=httpx.Timeout(60.0, connect=5.0), http2=False)


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
        # One list per network read, not per event: what the provider sent together is published together
        # (one PUBLISH, one SSE write at the API), and nothing waits for more to arrive.
        parser = SSEParser()
        async for data in response.aiter_bytes():
            chunks = [chunk for event in parser.feed(data) for chunk in translator.translate(event)]
            if chunks:
                yield chunks
        chunks = [chunk for event in parser.close() for chunk in translator.translate(event)]
        if chunks:
            yield chunks
    except httpx.TimeoutException as exc:
        raise ProviderError("timeout", "stream stalled") from exc
    except httpx.TransportError as exc:
        raise ProviderError("connection", f"stream broken: {type(exc).__name__}") from exc
    finally:
        await response.aclose()


class SSEParser:
    """Server-sent events per the WHATWG rules that providers use (event/data fields, blank-line dispatch),
    fed raw bytes as they arrive; lines end with \\n, \\r\\n or \\r, and nothing else (JSON may hold U+2028)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, raw: bytes) -> list[SSEEvent]:
        text = self._pending + self._decoder.decode(raw)
        if text.endswith("\r"):  # maybe the first half of \r\n: decide with the next read
            text, self._pending = text[:-1], "\r"
        else:
            self._pending = ""
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._pending = lines.pop() + self._pending
        return [event for line in lines if (event := self._line(line)) is not None]

    def close(self) -> list[SSEEvent]:
        """Whatever the stream ended with: a last line without its newline, an event without its blank line."""
        tail = (self._pending + self._decoder.decode(b"", final=True)).rstrip("\r")
        self._pending = ""
        events = [event for event in (self._line(tail) if tail else None, self._line("")) if event is not None]
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            event = SSEEvent(self._event, "\n".join(self._data)) if self._data else None
            self._event, self._data = None, []
            return event
        if line.startswith("data:"):
            self._data.append(line[5:].lstrip(" "))
        elif line.startswith("event:"):
            self._event = line[6:].strip()
        return None


def _json_or_text(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace")[:500]
