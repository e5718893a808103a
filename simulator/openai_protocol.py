"""OpenAI chat completions, as api.openai.com writes it."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request

from simulator.engine import SimAnswer, SimRequest, sse
from simulator.text import content_text, prompt_tokens, token_logprobs
from simulator.tools import planned_call, sample_json

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
        tool_call=tool_call, legacy_functions=bool(body.get("functions")) and not body.get("tools"),
        id="chatcmpl-sim" + uuid.uuid4().hex[:20], n=int(body.get("n") or 1),
        stop=_stop(body.get("stop")), logprobs=bool(body.get("logprobs")),
        top_logprobs=int(body.get("top_logprobs") or 0),
        answer_json=_answer_json(body.get("response_format")) if tool_call is None else None,
    )


def _stop(stop: Any) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])


def _answer_json(response_format: Any) -> str | None:
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return sample_json(None)
    if kind == "json_schema":
        return sample_json((response_format.get("json_schema") or {}).get("schema"))
    return None


def _tool_call_for(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With tools offered and no tool result yet in the conversation, call the first tool."""
    tools = body.get("tools") or [{"type": "function", "function": f} for f in body.get("functions") or []]
    choice = body.get("tool_choice", body.get("function_call"))
    if isinstance(choice, dict) and "name" in choice:  # legacy function_call: {"name": ...}
        choice = {"function": choice}
    if not tools or choice == "none" or messages[-1].get("role") in ("tool", "function"):
        return None
    functions = [t.get("function", {}) for t in tools]
    wanted = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    function = next((f for f in functions if f.get("name") == wanted), functions[0])
    return planned_call(function.get("name", "tool"), function.get("parameters"), "call_sim")


def _usage(req: SimRequest, answers: list[SimAnswer]) -> dict[str, int]:
    completion = sum(a.completion_tokens for a in answers) + (8 if req.tool_call else 0)
    return {"prompt_tokens": req.prompt_tokens, "completion_tokens": completion,
            "total_tokens": req.prompt_tokens + completion}


def _logprobs(req: SimRequest, pieces: list[str]) -> dict[str, Any] | None:
    if not req.logprobs:
        return None
    return {"content": [token_logprobs(p, req.top_logprobs) for p in pieces], "refusal": None}


def _message(req: SimRequest, answer: SimAnswer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    call = req.tool_call
    if call and req.legacy_functions:
        message["content"] = None
        message["function_call"] = {"name": call["name"], "arguments": call["arguments"]}
    elif call:
        message["content"] = None
        message["tool_calls"] = [{"id": call["id"], "type": "function", "function": {
            "name": call["name"], "arguments": call["arguments"]}}]
    return message


def whole(req: SimRequest, answers: list[SimAnswer]) -> dict[str, Any]:
    choices = [{"index": i, "message": _message(req, a), "logprobs": _logprobs(req, a.pieces),
                "finish_reason": _finish(req, a)} for i, a in enumerate(answers)]
    return {
        "id": req.id, "object": "chat.completion", "created": req.created, "model": req.model,
        "choices": choices, "usage": _usage(req, answers), "system_fingerprint": "fp_tiergate_sim",
    }


def _finish(req: SimRequest, answer: SimAnswer) -> str:
    return "function_call" if answer.finish_reason == "tool_calls" and req.legacy_functions else answer.finish_reason


def _chunk(req: SimRequest, delta: dict[str, Any], finish_reason: str | None = None, choice: int = 0,
           logprobs: dict[str, Any] | None = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": req.id, "object": "chat.completion.chunk", "created": req.created, "model": req.model,
        "system_fingerprint": "fp_tiergate_sim",
        "choices": [{"index": choice, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}],
    }
    if req.include_usage:
        chunk["usage"] = None
    return sse(chunk)


def stream_start(req: SimRequest) -> list[bytes]:
    events = []
    for choice in range(req.n):
        events.append(_chunk(req, {"role": "assistant", "content": "", "refusal": None}, choice=choice))
        call = req.tool_call
        if call and req.legacy_functions:
            events.append(_chunk(req, {"function_call": {"name": call["name"], "arguments": ""}}, choice=choice))
            events.append(_chunk(req, {"function_call": {"arguments": call["arguments"]}}, choice=choice))
        elif call:
            events.append(_chunk(req, {"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                       "function": {"name": call["name"], "arguments": ""}}]},
                                 choice=choice))
            events.append(_chunk(req, {"tool_calls": [{"index": 0, "function": {"arguments": call["arguments"]}}]},
                                 choice=choice))
    return events


def stream_piece(req: SimRequest, piece: str, index: int, choice: int = 0) -> bytes:
    return _chunk(req, {"content": piece}, choice=choice, logprobs=_logprobs(req, [piece]))


def stream_end(req: SimRequest, answers: list[SimAnswer]) -> list[bytes]:
    events = [_chunk(req, {}, _finish(req, a), choice) for choice, a in enumerate(answers)]
    if req.include_usage:
        events.append(sse({"id": req.id, "object": "chat.completion.chunk", "created": req.created,
                           "model": req.model, "system_fingerprint": "fp_tiergate_sim", "choices": [],
                           "usage": _usage(req, answers)}))
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
