"""The protocol-independent part of the simulator: timing, faults, stream cancellation, stats.

A protocol module (openai_protocol.py, …) says how requests are read and answers written.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api.sse import DisconnectAwareStream
from simulator.behaviour import Behaviour, behaviour_for, directive_key
from simulator.stats import SimStats
from simulator.text import answer_pieces, default_answer_tokens, json_pieces


@dataclass
class SimRequest:
    """A provider request reduced to what the simulator needs to answer it."""

    model: str
    seed_text: str
    last_user_text: str
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool = False
    tool_call: dict[str, Any] | None = None   # answer with this tool call instead of text
    legacy_functions: bool = False            # ... written as the legacy `function_call` (OpenAI)
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = ""
    n: int = 1                                # answers asked for (protocols without `n` leave it 1)
    stop: list[str] = field(default_factory=list)
    logprobs: bool = False
    top_logprobs: int = 0
    answer_json: str | None = None            # the request asked for JSON: this text (valid against its schema)


@dataclass
class SimAnswer:
    pieces: list[str]
    finish_reason: str  # "stop" | "length" | "tool_calls" (protocols map it to their own words)
    stop_sequence: str | None = None  # the stop sequence that ended it

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class WireProtocol(Protocol):
    name: str

    def parse(self, request: Request, body: dict[str, Any]) -> SimRequest: ...
    def whole(self, req: SimRequest, answers: list[SimAnswer]) -> dict[str, Any]: ...
    def stream_start(self, req: SimRequest) -> list[bytes]: ...
    def stream_piece(self, req: SimRequest, piece: str, index: int, choice: int) -> bytes: ...
    def stream_end(self, req: SimRequest, answers: list[SimAnswer]) -> list[bytes]: ...
    def error(self, status: int, message: str) -> dict[str, Any]: ...
    def too_long(self, prompt_tokens: int, limit: int) -> dict[str, Any]: ...
    def malformed(self) -> bytes: ...


class SimEngine:
    def __init__(self, defaults: Behaviour) -> None:
        self.defaults = defaults
        self.stats = SimStats()
        self._failures: Counter[str] = Counter()

    def reset(self) -> None:
        self.stats = SimStats()
        self._failures.clear()

    async def handle(self, protocol: WireProtocol, request: Request) -> Response | DisconnectAwareStream:
        try:
            body = orjson.loads(await request.body())
            req = protocol.parse(request, body)
        except (ValueError, KeyError, TypeError) as exc:
            return _json(400, protocol.error(400, f"invalid request: {exc}"))
        self.stats.record(protocol.name, req.model, body, directive_key(req.last_user_text))
        behaviour = behaviour_for(self.defaults, request.headers, req.last_user_text, req.model)
        fault = await self._fault(protocol, behaviour, req)
        if fault is not None:
            return fault
        answers = [self._answer(req, behaviour, choice) for choice in range(req.n)]
        if req.stream:
            return DisconnectAwareStream(self._stream(protocol, req, answers, behaviour), headers={},
                                         on_disconnect=self._count_cancel)
        if behaviour.ttft_ms:
            await asyncio.sleep(behaviour.ttft_ms / 1000)
        return _json(200, protocol.whole(req, answers))

    async def _fault(self, protocol: WireProtocol, behaviour: Behaviour, req: SimRequest) -> Response | None:
        if behaviour.hang:
            await asyncio.sleep(3600)
        if behaviour.fail is not None and self._should_fail(behaviour, req):
            if behaviour.ttft_ms:
                await asyncio.sleep(behaviour.ttft_ms / 1000)
            headers = {"retry-after": f"{behaviour.retry_after:g}"} if behaviour.retry_after is not None else {}
            return _json(behaviour.fail, protocol.error(behaviour.fail, f"simulated {behaviour.fail}"), headers)
        if behaviour.context is not None and req.prompt_tokens > behaviour.context:
            return _json(400, protocol.too_long(req.prompt_tokens, behaviour.context))
        if behaviour.malformed:
            return Response(protocol.malformed(), 200, media_type="application/json")
        return None

    def _should_fail(self, behaviour: Behaviour, req: SimRequest) -> bool:
        if behaviour.fail_times is None:
            return True
        key = f"{directive_key(req.last_user_text)}|{req.model}"
        self._failures[key] += 1
        return self._failures[key] <= behaviour.fail_times

    def _answer(self, req: SimRequest, behaviour: Behaviour, choice: int = 0) -> SimAnswer:
        if req.tool_call is not None:
            return SimAnswer([], "tool_calls")
        seed = req.seed_text + (f"#{choice}" if choice else "")
        if req.answer_json is not None:
            pieces = json_pieces(req.answer_json)
        else:
            tokens = behaviour.tokens if behaviour.tokens is not None else default_answer_tokens(seed)
            pieces = answer_pieces(seed, tokens)
        answer = _stopped(pieces, req.stop)
        if req.max_tokens is not None and answer.completion_tokens > req.max_tokens:
            return SimAnswer(answer.pieces[:req.max_tokens], "length")
        return answer

    async def _stream(self, protocol: WireProtocol, req: SimRequest, answers: list[SimAnswer],
                      behaviour: Behaviour) -> AsyncIterator[bytes]:
        stats = self.stats
        stats.streams_started += 1
        stats.active_streams += 1
        try:
            if behaviour.ttft_ms:
                await asyncio.sleep(behaviour.ttft_ms / 1000)
            for event in protocol.stream_start(req):
                yield event
            for index in range(max(a.completion_tokens for a in answers)):
                if behaviour.cut_after is not None and index >= behaviour.cut_after:
                    raise ConnectionAbortedError("simulated stream cut")
                if index and behaviour.token_delay_ms:
                    await asyncio.sleep(behaviour.token_delay_ms / 1000)
                for choice, answer in enumerate(answers):
                    if index < answer.completion_tokens:
                        yield protocol.stream_piece(req, answer.pieces[index], index, choice)
            for event in protocol.stream_end(req, answers):
                yield event
            stats.streams_completed += 1
        finally:
            stats.active_streams -= 1

    async def _count_cancel(self) -> None:
        self.stats.streams_cancelled += 1


def _stopped(pieces: list[str], stop: list[str]) -> SimAnswer:
    """The answer up to the first stop sequence (which is not part of it), as a real model ends it."""
    text = "".join(pieces)
    found = min(((text.find(s), s) for s in stop if s in text), default=None)
    if found is None:
        return SimAnswer(pieces, "stop")
    at, sequence = found
    kept: list[str] = []
    length = 0
    for piece in pieces:
        if length + len(piece) > at:
            if at > length:
                kept.append(piece[:at - length])
            break
        kept.append(piece)
        length += len(piece)
    return SimAnswer(kept, "stop", sequence)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n".encode() if event else b""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return prefix + b"data: " + payload + b"\n\n"
