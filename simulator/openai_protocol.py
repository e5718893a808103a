"""OpenAI chat completions, as api.openai.com writes it."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request

from simulator.engine import SimAnswer, SimRequest, sse
from simulator.text import content_text, prompt_tokens
from simulator.tools import planned_call

name = "openai"


def parse(request: Request, body: dict[str, Any]) -> SimRequest:
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list")
    last_user = next((content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tool_call = _tool_call_for(body, messages)
    return SimRequest(
        model=str(body["model"]), seed_text=str(body["model"]) + "|" + last_user, last_user_text=last_user,
        prompt_tokens=prompt_tokens(messages), max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stream=bool(body.get("stream")), include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        tool_call=tool_call, id="chatcmpl-sim" + uuid.uuid4().hex[:20],
    )


def _tool_call_for(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With tools offered and no tool result yet in the conversation, call the first tool."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice == "none" or messages[-1].get("role") == "tool":
        return None
    functions = [t.get("function", {}) for t in tools]
    wanted = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    function = next((f for f in functions if f.get("name") == wanted), functions[0])
    return planned_call(function.get("name", "tool"), function.get("parameters"), "call_sim")


def _usage(req: SimRequest, answer: SimAnswer) -> dict[str, int]:
    completion = answer.completion_tokens + (8 if req.tool_call else 0)
    return {"prompt_tokens": req.prompt_tokens, "completion_tokens": completion,
            "total_tokens": req.prompt_tokens + completion}


def whole(req: SimRequest, answer: SimAnswer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(answer.pieces), "refusal": None}
    if req.tool_call:
        message["content"] = None
        message["tool_calls"] = [{"id": req.tool_call["id"], "type": "function", "function": {
            "name": req.tool_call["name"], "arguments": req.tool_call["arguments"]}}]
    return {
        "id": req.id, "object": "chat.completion", "created": req.created, "model": req.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}],
        "usage": _usage(req, answer), "system_fingerprint": "fp_tiergate_sim",
    }


def _chunk(req: SimRequest, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": req.id, "object": "chat.completion.chunk", "created": req.created, "model": req.model,
        "system_fingerprint": "fp_tiergate_sim",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if req.include_usage:
        chunk["usage"] = None
    return sse(chunk)


def stream_start(req: SimRequest) -> list[bytes]:
    events = [_chunk(req, {"role": "assistant", "content": "", "refusal": None})]
    if req.tool_call:
        call = req.tool_call
        events.append(_chunk(req, {"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                   "function": {"name": call["name"], "arguments": ""}}]}))
        events.append(_chunk(req, {"tool_calls": [{"index": 0, "function": {"arguments": call["arguments"]}}]}))
    return events


def stream_piece(req: SimRequest, piece: str, index: int) -> bytes:
    return _chunk(req, {"content": piece})


def stream_end(req: SimRequest, answer: SimAnswer) -> list[bytes]:
    events = [_chunk(req, {}, answer.finish_reason)]
    if req.include_usage:
        events.append(sse({"id": req.id, "object": "chat.completion.chunk", "created": req.created,
                           "model": req.model, "system_fingerprint": "fp_tiergate_sim", "choices": [],
                           "usage": _usage(req, answer)}))
    events.append(b"data: [DONE]\n\n")
    return events


def error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}.get(status,
                                                                                                  "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def malformed() -> bytes:
    return b'{"id": "chatcmpl-sim", "object": "chat.completion", "choices": [{'


def too_long(prompt_tokens: int, limit: int) -> dict[str, Any]:
    message = (f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
               f"{prompt_tokens} tokens. Please reduce the length of the messages.")
    return {"error": {"message": message, "type": "invalid_request_error", "param": "messages",
                      "code": "context_length_exceeded"}}
