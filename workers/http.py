"""The one place a provider is called over HTTP: whole answers and SSE streams."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from config import Deployment
from workers.providers.base import Adapter, ProviderCall, ProviderError, SSEEvent, StreamTranslator
from workers.providers.fanout import FanOutTranslator, fan_out, merge, single
from workers.providers.legacy import as_function_call, wants_function_call

#: Why aiohttp and not httpx: per provider call httpx (+ httpcore, anyio, h11) spent ~1.5 ms of the worker's
#: CPU in pure-Python layers (a pool scan on every request and release, cancel scopes, h11's state machine);
#: aiohttp parses HTTP in C and keeps idle connections in a dict of deques. Measured in benchmarks/README.md.
Client = aiohttp.ClientSession
CONNECT_TIMEOUT = 5.0


def _limits(timeout: float) -> aiohttp.ClientTimeout:
    """`timeout` bounds the wait for the answer's start and each read after it (a stalled stream), not the
    whole call. Not aiohttp's `total`: it times out by cancelling the task, and racing the job's own deadline
    (asyncio.timeout in execute.py) it can swallow the deadline's cancellation, leaving a retry unbounded.
    `sock_read` fails the read itself, without touching the task's cancellation."""
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=CONNECT_TIMEOUT, sock_read=timeout)


async def new_client(max_connections: int = 1000) -> Client:
    """One pooled client per worker process (created inside its loop); keep-alive connections are reused across
    jobs, and idle ones are kept (not closed as surplus) for 30 s: reconnecting costs more."""
    connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, keepalive_timeout=30,
                                     ttl_dns_cache=300)
    # No cookie jar: a provider's cookies must not travel from one organization's call to another's.
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


#: What an adapter raises on a shape it did not expect: a translation failure, not a gateway crash.
_UNTRANSLATABLE = (TypeError, KeyError, AttributeError, ValueError, IndexError)


def _request(adapter: Adapter, deployment: Deployment, body: dict[str, Any], stream: bool) -> ProviderCall:
    """The provider call for `body`; a body the adapter cannot translate is a bad request for that protocol (400,
    tried on no other model), never an exception that ends the job without an answer."""
    try:
        return adapter.request(deployment, body, stream=stream)
    except _UNTRANSLATABLE as exc:
        raise ProviderError("bad_request", f"the request cannot be written for the {deployment.protocol} protocol "
                                           f"({type(exc).__name__}: {str(exc)[:120]})") from exc


def _malformed(exc: Exception) -> ProviderError:
    """A provider answer the adapter cannot read: malformed (retried, then the next model)."""
    return ProviderError("malformed", f"unreadable answer ({type(exc).__name__}: {str(exc)[:120]})")


def _translated(events: list[SSEEvent], translate: Callable[[SSEEvent], list[dict[str, Any]]],
                ) -> list[dict[str, Any]]:
    try:
        return [chunk for event in events for chunk in translate(event)]
    except _UNTRANSLATABLE as exc:
        raise _malformed(exc) from exc


async def call_whole(client: Client, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                     timeout: float) -> dict[str, Any]:
    """The provider's whole answer as an OpenAI completion; `n` answers from one call each when it has no `n`."""
    calls = fan_out(deployment, body)
    if calls > 1:
        answers = await asyncio.gather(*(_call_whole(client, adapter, deployment, single(body), timeout)
                                         for _ in range(calls)))
        completion = merge(list(answers))
    else:
        completion = await _call_whole(client, adapter, deployment, body, timeout)
    if wants_function_call(body) and deployment.protocol != "openai":
        completion = as_function_call(completion)
    return completion


async def _call_whole(client: Client, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                      timeout: float) -> dict[str, Any]:
    call = _request(adapter, deployment, body, stream=False)
    try:
        async with client.post(call.url, headers=call.headers, data=orjson.dumps(call.json),
                               timeout=_limits(timeout)) as response:
            content = await response.read()
            status, headers = response.status, _headers(response)
    except TimeoutError as exc:
        raise ProviderError("timeout", f"no answer within {timeout:.1f}s") from exc
    except aiohttp.ClientError as exc:
        raise ProviderError("connection", type(exc).__name__) from exc
    if status >= 400:
        raise adapter.error(status, _json_or_text(content), headers)
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ProviderError("malformed", "answer is not JSON", status) from exc
    try:
        return adapter.response(deployment, data)
    except _UNTRANSLATABLE as exc:
        raise _malformed(exc) from exc


def call_stream(client: Client, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                timeout: float, translator: StreamTranslator) -> AsyncIterator[list[dict[str, Any]]]:
    """Yields lists of OpenAI chunks as the provider sends them. Closing the generator closes the connection.
    A fanned-out translator (fanout.stream_translator) gets one stream per answer, merged as they arrive.
    (A plain function handing back the generator: no extra generator hop per network read.)"""
    if isinstance(translator, FanOutTranslator):
        return _merged_streams(client, adapter, deployment, single(body), timeout, translator)
    return _call_stream(client, adapter, deployment, body, timeout, translator.translate)


async def _merged_streams(client: Client, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                          timeout: float, translator: FanOutTranslator) -> AsyncIterator[list[dict[str, Any]]]:
    queue: asyncio.Queue[list[dict[str, Any]] | BaseException | None] = asyncio.Queue()

    async def pump(position: int) -> None:
        try:
            async for chunks in _call_stream(client, adapter, deployment, body, timeout,
                                             lambda event: translator.translate_part(position, event)):
                await queue.put(chunks)
            await queue.put(None)
        except Exception as exc:
            await queue.put(exc)

    tasks = [asyncio.create_task(pump(position)) for position in range(len(translator.parts))]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _call_stream(client: Client, adapter: Adapter, deployment: Deployment, body: dict[str, Any],
                       timeout: float, translate: Callable[[SSEEvent], list[dict[str, Any]]],
                       ) -> AsyncIterator[list[dict[str, Any]]]:
    call = _request(adapter, deployment, body, stream=True)
    try:
        response = await client.post(call.url, headers=call.headers, data=orjson.dumps(call.json),
                                     timeout=_limits(timeout))
    except TimeoutError as exc:
        raise ProviderError("timeout", f"no answer within {timeout:.1f}s") from exc
    except aiohttp.ClientError as exc:
        raise ProviderError("connection", type(exc).__name__) from exc
    finished = False
    try:
        if response.status >= 400:
            content = await response.read()
            raise adapter.error(response.status, _json_or_text(content), _headers(response))
        # One list per network read, not per event: what the provider sent together is published together
        # (one PUBLISH, one SSE write at the API), and nothing waits for more to arrive.
        parser = SSEParser()
        async for data in response.content.iter_any():
            chunks = _translated(parser.feed(data), translate)
            if chunks:
                yield chunks
        chunks = _translated(parser.close(), translate)
        if chunks:
            yield chunks
        finished = True
    except TimeoutError as exc:
        raise ProviderError("timeout", "stream stalled") from exc
    except aiohttp.ClientError as exc:
        raise ProviderError("connection", f"stream broken: {type(exc).__name__}") from exc
    finally:
        if finished:
            response.release()  # read to its end: the connection goes back to the pool
        else:
            response.close()  # cancelled, failed or cut: drop the connection, so the provider stops generating


def _headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


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
