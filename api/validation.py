"""Check a chat completion body; every refusal names the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from common.errors import GatewayError

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})

#: OpenAI chat completion parameters; tiergate's own extensions; anything else is refused, as OpenAI does.
OPENAI_FIELDS = frozenset({
    "messages", "model", "stream", "stream_options", "temperature", "top_p", "n", "stop", "max_tokens",
    "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "user", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format", "store", "service_tier",
    "reasoning_effort", "modalities", "audio", "prediction", "web_search_options", "verbosity",
    "prompt_cache_key", "safety_identifier", "functions", "function_call",
})
TIERGATE_FIELDS = frozenset({"metadata", "cache", "timeout"})
_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0),
           "frequency_penalty": (-2.0, 2.0)}


@dataclass
class ChatRequest:
    body: dict[str, Any]             # what may go to a provider (adapters pick their fields)
    messages: list[dict[str, Any]]
    model: str | None
    stream: bool
    include_usage: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None


def parse_chat_request(raw: bytes) -> ChatRequest:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"the body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "the body must be a JSON object", "invalid_request")
    for name in body:
        if name not in OPENAI_FIELDS and name not in TIERGATE_FIELDS:
            raise _bad(name, f"unrecognized request argument supplied: {name}")
    messages = _messages(body.get("messages"))
    _parameters(body)
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise _bad("model", "model: must be a non-empty string ('auto', a tier or a model name)")
    stream = _typed(body, "stream", bool, False)
    stream_options = _typed(body, "stream_options", dict, {})
    include_usage = stream_options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise _bad("stream_options.include_usage", "stream_options.include_usage: must be a boolean")
    metadata = _typed(body, "metadata", dict, {})
    timeout = body.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise _bad("timeout", "timeout: must be a positive number of seconds")
    forward = {k: v for k, v in body.items()
               if k not in TIERGATE_FIELDS and k not in ("model", "stream", "stream_options")}
    return ChatRequest(forward, messages, model, stream, include_usage, metadata, timeout)


def _messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise _bad("messages", "messages: required")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "messages: must be a non-empty array")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad(where, f"{where}: must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise _bad(f"{where}.role", f"{where}.role: must be one of {', '.join(sorted(ROLES))}; got {role!r}")
        _content(message, where)
    return messages


def _content(message: dict[str, Any], where: str) -> None:
    content = message.get("content")
    if content is None:
        if message["role"] == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        raise _bad(f"{where}.content", f"{where}.content: required")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad(f"{where}.content", f"{where}.content: must be a string or an array of content parts")
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            raise _bad(f"{where}.content[{index}]",
                       f"{where}.content[{index}]: must be a content part with type in {', '.join(sorted(PART_TYPES))}")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise _bad(f"{where}.content[{index}].text", f"{where}.content[{index}].text: must be a string")


def _parameters(body: dict[str, Any]) -> None:
    for name, (low, high) in _RANGES.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not low <= value <= high):
            raise _bad(name, f"{name}: must be a number from {low:g} to {high:g}")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _bad(name, f"{name}: must be a positive integer")
    n = body.get("n")
    if n is not None and n != 1:
        raise _bad("n", "n: only n=1 is supported")
    stop = body.get("stop")
    if stop is not None and not (isinstance(stop, str) or (
            isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))):
        raise _bad("stop", "stop: must be a string or an array of at most 4 strings")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(
            isinstance(t, dict) and isinstance(t.get("function"), dict) and t["function"].get("name") for t in tools)):
        raise _bad("tools", "tools: must be an array of {type: 'function', function: {name, parameters}}")


def _typed(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise _bad(name, f"{name}: must be {'a boolean' if kind is bool else 'an object'}")
    return value


def _bad(param: str, message: str) -> GatewayError:
    return GatewayError(400, message, "invalid_request", param=param)
