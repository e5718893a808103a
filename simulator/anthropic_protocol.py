"""Anthropic Messages (POST /v1/messages), as api.anthropic.com writes it, streaming event sequence included."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request

from simulator.engine import SimAnswer, SimRequest, sse
from simulator.text import count_text_tokens
from simulator.tools import planned_call

name = "anthropic"

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}


def parse(request: Request, body: dict[str, Any]) -> SimRequest:
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: must be a non-empty list")
    if not isinstance(body.get("max_tokens"), int):
        raise ValueError("max_tokens: Field required")  # the real API refuses a request without it
    last_user = next((_text(m.get("content")) for m in reversed(messages)
                      if m.get("role") == "user" and _text(m.get("content"))), "")
    return SimRequest(
        model=str(body["model"]), seed_text=str(body["model"]) + "|" + last_user, last_user_text=last_user,
        prompt_tokens=_prompt_tokens(body), max_tokens=body["max_tokens"], stream=bool(body.get("stream")),
        tool_call=_tool_call_for(body, messages), id="msg_sim" + uuid.uuid4().hex[:20],
        stop=list(body.get("stop_sequences") or []),
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _prompt_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    total = count_text_tokens(system if isinstance(system, str) else _text(system))
    for message in body["messages"]:
        content = message.get("content")
        total += 3 + count_text_tokens(content if isinstance(content, str) else orjson.dumps(content).decode())
    return total + 5 * len(body.get("tools") or [])


def _tool_call_for(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With tools offered and the last turn not a tool result, call the chosen (or first) tool."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    last = messages[-1].get("content")
    answered = isinstance(last, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last)
    if not tools or choice.get("type") == "none" or answered:
        return None
    tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
    return planned_call(tool.get("name", "tool"), tool.get("input_schema"), "toolu_sim")


def _usage(req: SimRequest, answer: SimAnswer) -> dict[str, Any]:
    return {"input_tokens": req.prompt_tokens, "output_tokens": _output_tokens(req, answer),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _output_tokens(req: SimRequest, answer: SimAnswer) -> int:
    return answer.completion_tokens + (8 if req.tool_call else 0)


def _stop_reason(answer: SimAnswer) -> str:
    return "stop_sequence" if answer.stop_sequence else STOP_REASONS[answer.finish_reason]


def whole(req: SimRequest, answers: list[SimAnswer]) -> dict[str, Any]:
    answer = answers[0]  # Messages has no `n`
    if req.tool_call:
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": req.tool_call["id"], "name": req.tool_call["name"],
                                          "input": orjson.loads(req.tool_call["arguments"])}]
    else:
        content = [{"type": "text", "text": answer.text}]
    return {"id": req.id, "type": "message", "role": "assistant", "model": req.model, "content": content,
            "stop_reason": _stop_reason(answer), "stop_sequence": answer.stop_sequence,
            "usage": _usage(req, answer)}


def _event(data: dict[str, Any]) -> bytes:
    return sse(data, event=data["type"])


def stream_start(req: SimRequest) -> list[bytes]:
    message = {"id": req.id, "type": "message", "role": "assistant", "model": req.model, "content": [],
               "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": req.prompt_tokens, "output_tokens": 1, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0}}
    events = [_event({"type": "message_start", "message": message})]
    if not req.tool_call:
        events.append(_event({"type": "content_block_start", "index": 0,
                              "content_block": {"type": "text", "text": ""}}))
        events.append(_event({"type": "ping"}))
        return events
    call = req.tool_call
    events.append(_event({"type": "content_block_start", "index": 0,
                          "content_block": {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}}))
    events.append(_event({"type": "ping"}))
    arguments = call["arguments"]
    for piece in ("", arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]):
        events.append(_event({"type": "content_block_delta", "index": 0,
                              "delta": {"type": "input_json_delta", "partial_json": piece}}))
    events.append(_event({"type": "content_block_stop", "index": 0}))
    return events


def stream_piece(req: SimRequest, piece: str, index: int, choice: int = 0) -> bytes:
    return _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})


def stream_end(req: SimRequest, answers: list[SimAnswer]) -> list[bytes]:
    answer = answers[0]
    events = [] if req.tool_call else [_event({"type": "content_block_stop", "index": 0})]
    events.append(_event({"type": "message_delta",
                          "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": answer.stop_sequence},
                          "usage": {"output_tokens": _output_tokens(req, answer)}}))
    events.append(_event({"type": "message_stop"}))
    return events


def error(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}


def malformed() -> bytes:
    return b'{"id": "msg_sim", "type": "message", "role": "assistant", "content": [{'


def too_long(prompt_tokens: int, limit: int) -> dict[str, Any]:
    return error(400, f"prompt is too long: {prompt_tokens} tokens > {limit} maximum")
