"""Every parameter of a chat completion body but `messages`, checked as OpenAI's API reference defines it.

Each check takes the value and the field's path and raises a 400 naming that path (`param`). The table maps
each top-level field to its check; `check_parameters` runs only the checks of the fields a body has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from common.errors import GatewayError

Check = Callable[[Any, str], None]

MAX_N = 128
MAX_TOOLS = 128
MAX_STOP = 4
MAX_LOGIT_BIAS = 1024
MAX_SEED = 2**63 - 1
#: metadata: tiergate's routing hints plus whatever the caller wants in the audit trail, within bounds
MAX_METADATA_KEYS = 64
MAX_METADATA_DEPTH = 8
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_KEY_CHARS = 64
MAX_ID_CHARS = 128
MAX_USER_CHARS = 512
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOKEN_ID = re.compile(r"^[0-9]{1,10}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bad(param: str, message: str) -> GatewayError:
    """A 400 naming the field; the message starts with it too, for people reading logs."""
    return GatewayError(400, f"{param}: {message}", "invalid_request", param=param)


# --- kinds of value -----------------------------------------------------------------------------------

def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise bad(where, "must be a boolean")


def check_string(value: Any, where: str, *, max_chars: int | None = None, non_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise bad(where, "must be a string")
    if non_empty and not value:
        raise bad(where, "must not be empty")
    if max_chars is not None and len(value) > max_chars:
        raise bad(where, f"at most {max_chars} characters; got {len(value)}")


def check_object(value: Any, where: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(where, "must be an object")
    if allowed is not None:
        for name in value:
            if name not in allowed:
                raise bad(f"{where}.{name}", "unknown field")
    return value


def check_enum(value: Any, where: str, choices: frozenset[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise bad(where, f"must be one of {', '.join(sorted(choices))}; got {show(value)}")


def check_range(value: Any, where: str, low: float, high: float, *, integer: bool = False) -> None:
    if not (is_int(value) if integer else is_number(value)) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise bad(where, f"must be {kind} from {low:g} to {high:g}; got {show(value)}")


def check_function_name(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _FUNCTION_NAME.match(value):
        raise bad(where, "must be 1-64 letters, digits, '_' or '-'")


def check_json_schema(value: Any, where: str) -> None:
    """A JSON Schema is an object (its content is the provider's business)."""
    check_object(value, where)


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- one check per parameter ----------------------------------------------------------------------------

def _positive_int(value: Any, where: str) -> None:
    if not is_int(value) or value < 1:
        raise bad(where, f"must be a positive integer; got {show(value)}")


def _stop(value: Any, where: str) -> None:
    if isinstance(value, str):
        if not value:
            raise bad(where, "must not be an empty string")
        return
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_STOP:
        raise bad(where, f"must be a string or an array of 1 to {MAX_STOP} strings")
    for index, item in enumerate(value):
        check_string(item, f"{where}[{index}]", non_empty=True)


def _logit_bias(value: Any, where: str) -> None:
    check_object(value, where)
    if len(value) > MAX_LOGIT_BIAS:
        raise bad(where, f"at most {MAX_LOGIT_BIAS} tokens; got {len(value)}")
    for token, bias in value.items():
        if not _TOKEN_ID.match(token):
            raise bad(f"{where}.{token[:20]}", "keys must be token ids (strings of digits)")
        check_range(bias, f"{where}.{token}", -100, 100)


def _stream_options(value: Any, where: str) -> None:
    check_object(value, where, frozenset({"include_usage", "include_obfuscation"}))
    for name, option in value.items():
        check_bool(option, f"{where}.{name}")


def _tool(value: Any, where: str) -> None:
    check_object(value, where)
    kind = value.get("type", "function")
    if kind == "function":
        check_object(value, where, frozenset({"type", "function"}))
        _function_definition(value.get("function"), f"{where}.function")
    elif kind == "custom":
        check_object(value, where, frozenset({"type", "custom"}))
        custom = check_object(value.get("custom"), f"{where}.custom", frozenset({"name", "description", "format"}))
        check_function_name(custom.get("name"), f"{where}.custom.name")
        if "description" in custom:
            check_string(custom["description"], f"{where}.custom.description")
        if "format" in custom:
            check_object(custom["format"], f"{where}.custom.format")
    else:
        raise bad(f"{where}.type", f"must be function or custom; got {show(kind)}")


def _function_definition(value: Any, where: str) -> None:
    check_object(value, where, frozenset({"name", "description", "parameters", "strict"}))
    _named_schema(value, where, "parameters")


def _named_schema(value: dict[str, Any], where: str, schema_field: str) -> None:
    """A function's or a response format's `{name, description, <schema_field>, strict}`."""
    check_function_name(value.get("name"), f"{where}.name")
    if "description" in value:
        check_string(value["description"], f"{where}.description")
    if schema_field in value:
        check_json_schema(value[schema_field], f"{where}.{schema_field}")
    if value.get("strict") is not None:
        check_bool(value["strict"], f"{where}.strict")


def _tools(value: Any, where: str) -> None:
    _array_of(value, where, _tool, MAX_TOOLS)


def _functions(value: Any, where: str) -> None:
    _array_of(value, where, _function_definition, MAX_TOOLS)


def _array_of(value: Any, where: str, check: Check, most: int) -> None:
    if not isinstance(value, list) or not value:
        raise bad(where, "must be a non-empty array")
    if len(value) > most:
        raise bad(where, f"at most {most} entries; got {len(value)}")
    for index, item in enumerate(value):
        check(item, f"{where}[{index}]")


_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})


def _tool_choice(value: Any, where: str) -> None:
    if isinstance(value, str):
        check_enum(value, where, _TOOL_CHOICE_MODES)
        return
    check_object(value, where)
    kind = value.get("type")
    if kind == "function":
        check_object(value, where, frozenset({"type", "function"}))
        function = check_object(value.get("function"), f"{where}.function", frozenset({"name"}))
        check_function_name(function.get("name"), f"{where}.function.name")
    elif kind == "custom":
        check_object(value, where, frozenset({"type", "custom"}))
        custom = check_object(value.get("custom"), f"{where}.custom", frozenset({"name"}))
        check_function_name(custom.get("name"), f"{where}.custom.name")
    elif kind == "allowed_tools":
        check_object(value, where, frozenset({"type", "allowed_tools"}))
        allowed = check_object(value.get("allowed_tools"), f"{where}.allowed_tools", frozenset({"mode", "tools"}))
        check_enum(allowed.get("mode"), f"{where}.allowed_tools.mode", frozenset({"auto", "required"}))
        _array_of(allowed.get("tools"), f"{where}.allowed_tools.tools", check_object, MAX_TOOLS)
    else:
        raise bad(f"{where}.type", f"must be function, custom or allowed_tools; got {show(kind)}")


def _function_call(value: Any, where: str) -> None:
    if isinstance(value, str):
        check_enum(value, where, frozenset({"none", "auto"}))
        return
    check_object(value, where, frozenset({"name"}))
    check_function_name(value.get("name"), f"{where}.name")


def _response_format(value: Any, where: str) -> None:
    check_object(value, where)
    kind = value.get("type")
    if kind in ("text", "json_object"):
        check_object(value, where, frozenset({"type"}))
    elif kind == "json_schema":
        check_object(value, where, frozenset({"type", "json_schema"}))
        spec = check_object(value.get("json_schema"), f"{where}.json_schema",
                            frozenset({"name", "description", "schema", "strict"}))
        _named_schema(spec, f"{where}.json_schema", "schema")
    else:
        raise bad(f"{where}.type", f"must be text, json_object or json_schema; got {show(kind)}")


def _modalities(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise bad(where, "must be a non-empty array")
    for index, item in enumerate(value):
        check_enum(item, f"{where}[{index}]", frozenset({"text", "audio"}))
    if len(set(value)) != len(value):
        raise bad(where, "must not repeat a modality")


def _audio(value: Any, where: str) -> None:
    check_object(value, where, frozenset({"voice", "format"}))
    voice = value.get("voice")
    if isinstance(voice, dict):
        check_object(voice, f"{where}.voice", frozenset({"id"}))
        check_string(voice.get("id"), f"{where}.voice.id", non_empty=True, max_chars=MAX_ID_CHARS)
    else:
        check_string(voice, f"{where}.voice", non_empty=True, max_chars=MAX_ID_CHARS)
    check_enum(value.get("format"), f"{where}.format", frozenset({"wav", "aac", "mp3", "flac", "opus", "pcm16"}))


def _prediction(value: Any, where: str) -> None:
    check_object(value, where, frozenset({"type", "content"}))
    check_enum(value.get("type"), f"{where}.type", frozenset({"content"}))
    content = value.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise bad(f"{where}.content", "must be a string or a non-empty array of text parts")
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        check_object(part, at, frozenset({"type", "text"}))
        check_enum(part.get("type"), f"{at}.type", frozenset({"text"}))
        check_string(part.get("text"), f"{at}.text")


def _web_search_options(value: Any, where: str) -> None:
    check_object(value, where, frozenset({"search_context_size", "user_location"}))
    if "search_context_size" in value:
        check_enum(value["search_context_size"], f"{where}.search_context_size",
                   frozenset({"low", "medium", "high"}))
    if value.get("user_location") is not None:
        check_object(value["user_location"], f"{where}.user_location")


MIN_TIMEOUT = 0.1


def _timeout(value: Any, where: str) -> None:
    """A deadline shorter than a round trip could only end in a 504: refused as the bad input it is."""
    if not is_number(value) or value < MIN_TIMEOUT:
        raise bad(where, f"must be a number of seconds, at least {MIN_TIMEOUT:g}")


def _model(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise bad(where, "must be a non-empty string ('auto', a tier or a model name)")
    if len(value) > 256:
        raise bad(where, "at most 256 characters")


def check_metadata(value: Any, where: str = "metadata") -> None:
    """tiergate's metadata: routing hints and caller data for the audit trail, bounded in keys, depth and size."""
    check_object(value, where)
    if len(value) > MAX_METADATA_KEYS:
        raise bad(where, f"at most {MAX_METADATA_KEYS} keys; got {len(value)}")
    for key in ("user_id", "conversation_id", "customer_id"):
        found = value.get(key)
        if found is not None and not (isinstance(found, str) or is_int(found)):
            raise bad(f"{where}.{key}", "must be a string or an integer")
        if isinstance(found, str) and len(found) > MAX_ID_CHARS:
            raise bad(f"{where}.{key}", f"at most {MAX_ID_CHARS} characters")
        if isinstance(found, str) and _CONTROL.search(found):
            raise bad(f"{where}.{key}", "must not hold control characters")
    for key in ("intent", "customer_tier"):
        if value.get(key) is not None:
            check_string(value[key], f"{where}.{key}", max_chars=MAX_ID_CHARS)
    _metadata_shape(value, where, 1)
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise bad(where, f"at most {MAX_METADATA_BYTES} bytes of JSON")


def _metadata_shape(value: Any, where: str, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise bad(where, f"nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or len(key) > MAX_METADATA_KEY_CHARS:
                raise bad(where, f"keys must be 1-{MAX_METADATA_KEY_CHARS} characters; got {show(key)}")
            if isinstance(item, dict | list):
                _metadata_shape(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                _metadata_shape(item, f"{where}[{index}]", depth + 1)


def _cache(value: Any, where: str) -> None:
    control = check_object(value, where, frozenset({"no-cache", "no-store", "ttl", "s-maxage", "namespace"}))
    for name in ("no-cache", "no-store"):
        if name in control:
            check_bool(control[name], f"{where}.{name}")


def _seed(value: Any, where: str) -> None:
    check_range(value, where, -MAX_SEED - 1, MAX_SEED, integer=True)


def _enum(*choices: str) -> Check:
    allowed = frozenset(choices)
    return lambda value, where: check_enum(value, where, allowed)


def _ranged(low: float, high: float, *, integer: bool = False) -> Check:
    return lambda value, where: check_range(value, where, low, high, integer=integer)


def _string(max_chars: int) -> Check:
    return lambda value, where: check_string(value, where, max_chars=max_chars)


#: Every parameter tiergate accepts beside `messages`, with its check; a field not here is refused, as OpenAI does.
CHECKS: dict[str, Check] = {
    "model": _model,
    "stream": check_bool,
    "stream_options": _stream_options,
    "temperature": _ranged(0, 2),
    "top_p": _ranged(0, 1),
    "n": _ranged(1, MAX_N, integer=True),
    "stop": _stop,
    "max_tokens": _positive_int,
    "max_completion_tokens": _positive_int,
    "presence_penalty": _ranged(-2, 2),
    "frequency_penalty": _ranged(-2, 2),
    "logit_bias": _logit_bias,
    "logprobs": check_bool,
    "top_logprobs": _ranged(0, 20, integer=True),
    "user": _string(MAX_USER_CHARS),
    "seed": _seed,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": check_bool,
    "response_format": _response_format,
    "store": check_bool,
    "service_tier": _enum("auto", "default", "flex", "scale", "priority"),
    "reasoning_effort": _enum("none", "minimal", "low", "medium", "high", "xhigh"),
    "modalities": _modalities,
    "audio": _audio,
    "prediction": _prediction,
    "web_search_options": _web_search_options,
    "verbosity": _enum("low", "medium", "high"),
    "prompt_cache_key": _string(MAX_USER_CHARS),
    "safety_identifier": _string(MAX_USER_CHARS),
    "functions": _functions,
    "function_call": _function_call,
    # tiergate's own
    "metadata": check_metadata,
    "cache": _cache,
    "timeout": _timeout,
}


def check_parameters(body: dict[str, Any]) -> None:
    """Every field but `messages`: known, and of the right type, range and shape (null means absent)."""
    for name, value in body.items():
        if name == "messages":
            continue
        check = CHECKS.get(name)
        if check is None:
            raise bad(name, f"unrecognized request argument supplied: {name}")
        if value is not None:
            check(value, name)
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise bad("top_logprobs", "needs logprobs: true")
