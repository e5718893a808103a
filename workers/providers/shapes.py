"""OpenAI-side pieces the non-OpenAI adapters build and read: content parts, tool calls, request options (the
answer's own shapes, completions and chunks, are common/chat_shapes.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from workers.providers.base import ProviderError


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """An OpenAI assistant tool call; `arguments` is a dict from the provider, sent on as a JSON string."""
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": orjson.dumps(arguments or {}).decode()}}


def tool_arguments(call: dict[str, Any]) -> dict[str, Any]:
    """The arguments of an OpenAI tool call as an object (providers other than OpenAI want JSON, not a string)."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"_raw": raw}  # a model wrote broken JSON earlier in the chat; keep it visible, do not fail
    return value if isinstance(value, dict) else {"value": value}


def text_of(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def parts_of(content: Any) -> list[dict[str, Any]]:
    """OpenAI content as a list of parts, a plain string becoming one text part."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [p for p in content if isinstance(p, dict)]
    return []


def data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:` URL, None for a plain URL."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    header, data = url[5:].split(";base64,", 1)
    return header or "application/octet-stream", data


def parse_event(data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderError("malformed", f"stream event is not JSON: {data[:80]!r}") from exc
    if not isinstance(value, dict):
        raise ProviderError("malformed", f"stream event is not an object: {data[:80]!r}")
    return value


def max_tokens_of(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if value else None


def stop_list(body: dict[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def fold_turns(messages: list[dict[str, Any]], convert: Callable[[dict[str, Any]], list[dict[str, Any]]],
               assistant_role: str, parts_key: str) -> tuple[str, list[dict[str, Any]]]:
    """(system text, turns) for providers that keep the system prompt apart and want user/assistant turns to
    alternate: system and developer messages are lifted out, tool results go in user turns, and consecutive
    turns of one role are merged. `convert` gives a message's provider parts (none: the message is dropped)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") in ("system", "developer"):
            system.append(text_of(message.get("content")))
            continue
        parts = convert(message)
        if not parts:
            continue
        role = assistant_role if message.get("role") == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1][parts_key].extend(parts)
        else:
            turns.append({"role": role, parts_key: parts})
    return "\n\n".join(s for s in system if s), turns


# --- what the request asks of the answer ----------------------------------------------------------------------

#: The tool a protocol without a JSON mode is made to call when `response_format` asks for JSON; its input is the
#: answer, which the adapter hands back as `message.content`.
RESPONSE_TOOL = "json_response"


@dataclass(frozen=True)
class ResponseFormat:
    """`response_format` of a request that wants JSON: the schema (None: any JSON object), its name, strictness."""

    schema: dict[str, Any] | None
    name: str
    strict: bool


def response_format(body: dict[str, Any]) -> ResponseFormat | None:
    found = body.get("response_format") or {}
    if found.get("type") == "json_object":
        return ResponseFormat(None, "json_object", False)
    if found.get("type") == "json_schema":
        spec = found.get("json_schema") or {}
        return ResponseFormat(spec.get("schema") or {"type": "object"}, str(spec.get("name") or "response"),
                              bool(spec.get("strict")))
    return None


def tools_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's function tools, the legacy `functions` among them (a protocol without them gets tools)."""
    tools = [t for t in body.get("tools") or [] if t.get("type", "function") == "function" and t.get("function")]
    return tools + [{"type": "function", "function": f} for f in body.get("functions") or []]


def tool_choice_of(body: dict[str, Any]) -> Any:
    """`tool_choice`, or the legacy `function_call` in its shape."""
    if body.get("tool_choice") is not None:
        return body["tool_choice"]
    legacy = body.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        return {"type": "function", "function": {"name": legacy["name"]}}
    return legacy


def resolve_refs(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON Schema with its local `$ref`s (`#/$defs/X`, `#/definitions/X`) inlined, for protocols that take no
    references; a recursive schema is cut after a few levels (as an open object)."""
    if isinstance(schema, list):
        return [resolve_refs(v, defs, depth) for v in schema]
    if not isinstance(schema, dict):
        return schema
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if target is None or depth > 8:
            return {"type": "object"}
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return resolve_refs(merged, defs, depth + 1)
    return {k: resolve_refs(v, defs, depth) for k, v in schema.items() if k not in ("$defs", "definitions")}
