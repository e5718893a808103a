"""Check a chat completion body; every refusal names the field (`param`), e.g. `messages[2].content[0].text`.

The body is parsed, held to a nesting depth, then each message is checked by its role's shape and each
other parameter by api/parameters.py. Everything is checked before anything is taken (no state changes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.parameters import (
    bad,
    check_enum,
    check_function_name,
    check_object,
    check_parameters,
    check_string,
    show,
)
from common.audit import injection_suspected
from common.errors import GatewayError
from config.settings import SecuritySettings

#: What each role's message may hold (OpenAI's reference; `function` is the deprecated predecessor of `tool`).
_FIELDS = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "refusal", "audio", "tool_calls", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
#: Content-part types each role may send.
_PARTS = {
    "system": frozenset({"text"}),
    "developer": frozenset({"text"}),
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal"}),
    "tool": frozenset({"text"}),
    "function": frozenset({"text"}),
}
ROLES = frozenset(_FIELDS)
MAX_TOOL_CALLS = 128
MAX_NAME_CHARS = 256
#: C0 controls but tab, newline and carriage return, and DEL: never meaningful in a chat, sometimes an attack.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Fields that stay with the gateway; the rest of the body may go to a provider.
_GATEWAY_ONLY = frozenset({"metadata", "cache", "timeout", "model", "stream", "stream_options"})


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
    body = parse_json_object(raw, security.max_json_depth)
    messages = _messages(body.get("messages"), security)
    check_parameters(body)
    stream = body.get("stream") or False
    include_usage = (body.get("stream_options") or {}).get("include_usage") or False
    flags = ["prompt_injection"] if injection_suspected(messages) else []
    if flags and security.block_prompt_injection:
        raise GatewayError(400, "messages: the request looks like a prompt-injection attempt and was refused",
                           "prompt_injection", "messages")
    forward = {k: v for k, v in body.items() if k not in _GATEWAY_ONLY}
    return ChatRequest(forward, messages, body.get("model"), stream, include_usage, body.get("metadata") or {},
                       body.get("timeout"), flags, body.get("cache"))


def parse_json_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object, refused when it is not JSON, not an object, or nested past `max_depth`."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"the body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "the body must be a JSON object", "invalid_request")
    # Fewer brackets than the limit cannot nest past it: most bodies skip the walk.
    if raw.count(b"{") + raw.count(b"[") > max_depth and _depth_over(body, max_depth):
        raise GatewayError(400, f"the body is nested deeper than {max_depth} levels", "invalid_request")
    return body


def _depth_over(value: Any, limit: int) -> bool:
    """Whether any object or array is nested more than `limit` deep (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


# --- messages ------------------------------------------------------------------------------------------

def _messages(messages: Any, security: SecuritySettings) -> list[dict[str, Any]]:
    if messages is None:
        raise bad("messages", "required")
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "must be a non-empty array")
    if len(messages) > security.max_messages:
        raise bad("messages", f"at most {security.max_messages} messages; got {len(messages)}")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad(where, "must be an object")
        role = message.get("role")
        if not isinstance(role, str) or role not in _FIELDS:
            raise bad(f"{where}.role", f"must be one of {', '.join(sorted(ROLES))}; got {show(role)}")
        for name in message:
            if name not in _FIELDS[role]:
                raise bad(f"{where}.{name}", f"not a field of a {role} message")
        _content(message, role, where)
        _role_fields(message, role, where)
        _clean_text(message, where, security.max_message_chars)
    return messages


def _content(message: dict[str, Any], role: str, where: str) -> None:
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")
                                    or message.get("refusal") or message.get("audio")):
            return
        if role == "function":
            return
        raise bad(f"{where}.content", "required")
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise bad(f"{where}.content", "must be a string or a non-empty array of content parts")
    allowed = _PARTS[role]
    for index, part in enumerate(content):
        _part(part, allowed, f"{where}.content[{index}]")


def _part(part: Any, allowed: frozenset[str], where: str) -> None:
    if not isinstance(part, dict):
        raise bad(where, "must be a content part object")
    kind = part.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        raise bad(f"{where}.type", f"must be one of {', '.join(sorted(allowed))} here; got {show(kind)}")
    if kind == "text":
        check_object(part, where, frozenset({"type", "text"}))
        check_string(part.get("text"), f"{where}.text")
    elif kind == "refusal":
        check_object(part, where, frozenset({"type", "refusal"}))
        check_string(part.get("refusal"), f"{where}.refusal")
    elif kind == "image_url":
        check_object(part, where, frozenset({"type", "image_url"}))
        image = check_object(part.get("image_url"), f"{where}.image_url", frozenset({"url", "detail"}))
        check_string(image.get("url"), f"{where}.image_url.url", non_empty=True)
        if image.get("detail") is not None:
            check_enum(image["detail"], f"{where}.image_url.detail", frozenset({"auto", "low", "high"}))
    elif kind == "input_audio":
        check_object(part, where, frozenset({"type", "input_audio"}))
        audio = check_object(part.get("input_audio"), f"{where}.input_audio", frozenset({"data", "format"}))
        check_string(audio.get("data"), f"{where}.input_audio.data", non_empty=True)
        check_enum(audio.get("format"), f"{where}.input_audio.format", frozenset({"wav", "mp3"}))
    else:  # file
        check_object(part, where, frozenset({"type", "file"}))
        file = check_object(part.get("file"), f"{where}.file", frozenset({"file_data", "file_id", "filename"}))
        if file.get("file_data") is None and file.get("file_id") is None:
            raise bad(f"{where}.file", "needs file_data or file_id")
        for name in ("file_data", "file_id", "filename"):
            if file.get(name) is not None:
                check_string(file[name], f"{where}.file.{name}", non_empty=True)


def _role_fields(message: dict[str, Any], role: str, where: str) -> None:
    """The fields beside content: name, tool_calls, tool_call_id, refusal, audio, function_call."""
    name = message.get("name")
    if role == "function":
        check_function_name(name, f"{where}.name")
    elif name is not None:
        check_string(name, f"{where}.name", non_empty=True, max_chars=MAX_NAME_CHARS)
    if role == "tool":
        check_string(message.get("tool_call_id"), f"{where}.tool_call_id", non_empty=True,
                     max_chars=MAX_NAME_CHARS)
    if role != "assistant":
        return
    if message.get("refusal") is not None:
        check_string(message["refusal"], f"{where}.refusal")
    if message.get("audio") is not None:
        audio = check_object(message["audio"], f"{where}.audio", frozenset({"id"}))
        check_string(audio.get("id"), f"{where}.audio.id", non_empty=True)
    if message.get("function_call") is not None:
        _called_function(message["function_call"], f"{where}.function_call")
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise bad(f"{where}.tool_calls", "must be an array of tool calls")
        if len(calls) > MAX_TOOL_CALLS:
            raise bad(f"{where}.tool_calls", f"at most {MAX_TOOL_CALLS} tool calls; got {len(calls)}")
        for index, call in enumerate(calls):
            _tool_call(call, f"{where}.tool_calls[{index}]")


def _tool_call(call: Any, where: str) -> None:
    check_object(call, where)
    check_string(call.get("id"), f"{where}.id", non_empty=True, max_chars=MAX_NAME_CHARS)
    kind = call.get("type", "function")
    if kind == "function":
        check_object(call, where, frozenset({"id", "type", "function"}))
        _called_function(call.get("function"), f"{where}.function")
    elif kind == "custom":
        check_object(call, where, frozenset({"id", "type", "custom"}))
        custom = check_object(call.get("custom"), f"{where}.custom", frozenset({"name", "input"}))
        check_function_name(custom.get("name"), f"{where}.custom.name")
        check_string(custom.get("input"), f"{where}.custom.input")
    else:
        raise bad(f"{where}.type", f"must be function or custom; got {show(kind)}")


def _called_function(value: Any, where: str) -> None:
    """`{name, arguments}` of a call the assistant made (arguments: a JSON string, as OpenAI sends it)."""
    check_object(value, where, frozenset({"name", "arguments"}))
    check_function_name(value.get("name"), f"{where}.name")
    check_string(value.get("arguments"), f"{where}.arguments")


def _clean_text(message: dict[str, Any], where: str, limit: int) -> None:
    """Strip control characters in place and hold each message to the size limit."""
    content = message.get("content")
    if isinstance(content, str):
        if _CONTROL.search(content):
            message["content"] = content = _CONTROL.sub("", content)
        size = len(content)
    elif isinstance(content, list):
        size = 0
        for part in content:
            text = part.get("text")
            if isinstance(text, str):
                if _CONTROL.search(text):
                    part["text"] = text = _CONTROL.sub("", text)
                size += len(text)
    else:
        size = 0
    if size > limit:
        raise bad(f"{where}.content", f"at most {limit} characters; got {size}")

