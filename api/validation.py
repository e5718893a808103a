"""Check a chat completion body; every refusal names the field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from common.audit import injection_suspected
from common.errors import GatewayError
from config.settings import SecuritySettings

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
#: C0 controls but tab, newline and carriage return, and DEL: never meaningful in a chat, sometimes an attack.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
    flags: list[str] = field(default_factory=list)   # for the audit record, e.g. "prompt_injection"
    cache: Any = None                                 # LiteLLM's per-request cache controls


def parse_chat_request(raw: bytes, security: SecuritySettings | None = None) -> ChatRequest:
    security = security or SecuritySettings()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"the body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "the body must be a JSON object", "invalid_request")
    for name in body:
        if name not in OPENAI_FIELDS and name not in TIERGATE_FIELDS:
            raise _bad(name, f"unrecognized request argument supplied: {name}")
    messages = _messages(body.get("messages"), security)
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
    flags = ["prompt_injection"] if injection_suspected(messages) else []
    if flags and security.block_prompt_injection:
        raise GatewayError(400, "messages: the request looks like a prompt-injection attempt and was refused",
                           "prompt_injection", "messages")
    forward = {k: v for k, v in body.items()
               if k not in TIERGATE_FIELDS and k not in ("model", "stream", "stream_options")}
    return ChatRequest(forward, messages, model, stream, include_usage, metadata, timeout, flags, body.get("cache"))


def _messages(messages: Any, security: SecuritySettings) -> list[dict[str, Any]]:
    if messages is None:
        raise _bad("messages", "messages: required")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "messages: must be a non-empty array")
    if len(messages) > security.max_messages:
        raise _bad("messages", f"messages: at most {security.max_messages} messages; got {len(messages)}")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad(where, f"{where}: must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise _bad(f"{where}.role", f"{where}.role: must be one of {', '.join(sorted(ROLES))}; got {role!r}")
        _content(message, where)
        _clean_text(message, where, security.max_message_chars)
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


def _clean_text(message: dict[str, Any], where: str, limit: int) -> None:
    """Strip control characters in place and hold each message to the size limit."""
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = content = _CONTROL.sub("", content)
        size = len(content)
    elif isinstance(content, list):
        size = 0
        for part in content:
            if isinstance(part.get("text"), str):
                part["text"] = _CONTROL.sub("", part["text"])
                size += len(part["text"])
    else:
        size = 0
    if size > limit:
        raise _bad(f"{where}.content", f"{where}.content: at most {limit} characters; got {size}")


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
