"""Every parameter of a chat completion body, checked as OpenAI's reference defines it; refusals name the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api.validation import parse_chat_request
from common.errors import GatewayError

HELLO = [{"role": "user", "content": "Olá"}]
FUNCTION = {"type": "function", "function": {"name": "get_order", "description": "d",
                                             "parameters": {"type": "object"}, "strict": True}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_order", "arguments": "{\"id\": 1}"}}


def _parse(body: dict[str, Any]) -> Any:
    return parse_chat_request(orjson.dumps(body))


def _refused(body: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        _parse(body)
    assert caught.value.status == 400
    return caught.value


VALID_MESSAGES = [
    [{"role": "system", "content": "s"}, {"role": "developer", "content": [{"type": "text", "text": "d"}]},
     {"role": "user", "content": "u", "name": "ana"}],
    [{"role": "user", "content": [{"type": "text", "text": "veja"},
                                  {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                                  {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                                  {"type": "file", "file": {"file_id": "file-1", "filename": "a.pdf"}}]}],
    [{"role": "user", "content": "pedido?"}, {"role": "assistant", "content": None, "tool_calls": [CALL]},
     {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\": \"enviado\"}"}],
    [{"role": "assistant", "content": [{"type": "refusal", "refusal": "não posso"}]},
     {"role": "assistant", "content": None, "refusal": "não"}, {"role": "user", "content": "ok"}],
    [{"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
     {"role": "function", "name": "f", "content": "1"}, {"role": "user", "content": "e?"}],
]


@pytest.mark.parametrize("messages", VALID_MESSAGES)
def test_every_role_and_content_part_in_its_openai_shape_is_accepted(messages: list[dict[str, Any]]) -> None:
    assert _parse({"messages": messages}).messages == messages


VALID_PARAMETERS: list[dict[str, Any]] = [
    {"temperature": 0, "top_p": 1, "presence_penalty": -2, "frequency_penalty": 2, "n": 3, "seed": -5},
    {"stop": "\n"}, {"stop": ["a", "b", "c", "d"]}, {"max_tokens": 1}, {"max_completion_tokens": 4096},
    {"logit_bias": {"50256": -100, "1": 100}}, {"logprobs": True, "top_logprobs": 20}, {"logprobs": False},
    {"user": "u-1"}, {"tools": [FUNCTION], "tool_choice": "required", "parallel_tool_calls": False},
    {"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "get_order"}}},
    {"response_format": {"type": "json_object"}}, {"response_format": {"type": "text"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"},
                                                                "strict": True}}},
    {"stream": True, "stream_options": {"include_usage": True}}, {"store": False, "service_tier": "flex"},
    {"reasoning_effort": "low", "verbosity": "high"}, {"modalities": ["text", "audio"],
                                                       "audio": {"voice": "alloy", "format": "mp3"}},
    {"prediction": {"type": "content", "content": "x"}}, {"functions": [{"name": "f"}], "function_call": "auto"},
    {"function_call": {"name": "f"}, "functions": [{"name": "f", "parameters": {}}]},
    {"metadata": {"organization_id": "org_1", "user_id": 5, "extra": {"tags": ["a", {"b": [1]}]}}},
    {"temperature": None, "stop": None, "tools": None}, {"model": "tier2", "timeout": 2.5, "cache": {"ttl": 5}},
]


@pytest.mark.parametrize("extra", VALID_PARAMETERS)
def test_every_parameter_in_its_openai_shape_is_accepted(extra: dict[str, Any]) -> None:
    _parse({"messages": HELLO, **extra})


BAD: list[tuple[dict[str, Any], str]] = [
    ({"messages": [{"role": [], "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x", "tool_call_id": "a"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}, "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "x"}}]}]},
     "messages[0].content[0].image_url.detail"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "a",
                                                                                     "format": "ogg"}}]}]},
     "messages[0].content[0].input_audio.format"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}, "messages[0].content[0].file"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": True}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{**CALL, "id": 1}]}]},
     "messages[0].tool_calls[0].id"),
    ({"messages": [{"role": "assistant", "content": None,
                    "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {}}}]}]},
     "messages[0].tool_calls[0].function.arguments"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].name"),
    ({"messages": HELLO, "stop": ""}, "stop"), ({"messages": HELLO, "stop": []}, "stop"),
    ({"messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"messages": HELLO, "stop": ["a", ""]}, "stop[1]"),
    ({"messages": HELLO, "n": 0}, "n"), ({"messages": HELLO, "n": 1.5}, "n"), ({"messages": HELLO, "n": 129}, "n"),
    ({"messages": HELLO, "logprobs": "yes"}, "logprobs"), ({"messages": HELLO, "top_logprobs": 2}, "top_logprobs"),
    ({"messages": HELLO, "logprobs": True, "top_logprobs": -1}, "top_logprobs"),
    ({"messages": HELLO, "seed": "1"}, "seed"), ({"messages": HELLO, "seed": 1.5}, "seed"),
    ({"messages": HELLO, "temperature": 2.1}, "temperature"), ({"messages": HELLO, "top_p": True}, "top_p"),
    ({"messages": HELLO, "presence_penalty": -3}, "presence_penalty"),
    ({"messages": HELLO, "logit_bias": {"abc": 1}}, "logit_bias.abc"),
    ({"messages": HELLO, "logit_bias": {"1": 101}}, "logit_bias.1"),
    ({"messages": HELLO, "max_tokens": True}, "max_tokens"),
    ({"messages": HELLO, "max_completion_tokens": -1}, "max_completion_tokens"),
    ({"messages": HELLO, "user": 5}, "user"),
    ({"messages": HELLO, "stream_options": {"include_usage": "y"}}, "stream_options.include_usage"),
    ({"messages": HELLO, "stream_options": {"x": True}}, "stream_options.x"),
    ({"messages": HELLO, "tools": {}}, "tools"), ({"messages": HELLO, "tools": []}, "tools"),
    ({"messages": HELLO, "tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    ({"messages": HELLO, "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
     "tools[0].function.parameters"),
    ({"messages": HELLO, "tools": [{"type": "web"}]}, "tools[0].type"),
    ({"messages": HELLO, "tool_choice": "any"}, "tool_choice"),
    ({"messages": HELLO, "tool_choice": {"type": "function", "function": {}}}, "tool_choice.function.name"),
    ({"messages": HELLO, "parallel_tool_calls": 1}, "parallel_tool_calls"),
    ({"messages": HELLO, "response_format": {"type": "xml"}}, "response_format.type"),
    ({"messages": HELLO, "response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": 1}}},
     "response_format.json_schema.strict"),
    ({"messages": HELLO, "functions": [{"description": "no name"}]}, "functions[0].name"),
    ({"messages": HELLO, "function_call": "required"}, "function_call"),
    ({"messages": HELLO, "service_tier": "gold"}, "service_tier"),
    ({"messages": HELLO, "reasoning_effort": 3}, "reasoning_effort"),
    ({"messages": HELLO, "modalities": ["video"]}, "modalities[0]"),
    ({"messages": HELLO, "modalities": ["text", "text"]}, "modalities"),
    ({"messages": HELLO, "audio": {"voice": "alloy"}}, "audio.format"),
    ({"messages": HELLO, "prediction": {"type": "content", "content": 5}}, "prediction.content"),
    ({"messages": HELLO, "store": "true"}, "store"),
    ({"messages": HELLO, "metadata": []}, "metadata"),
    ({"messages": HELLO, "metadata": {str(i): i for i in range(65)}}, "metadata"),
    ({"messages": HELLO, "metadata": {"user_id": [1]}}, "metadata.user_id"),
    ({"messages": HELLO, "metadata": {"conversation_id": "c" * 129}}, "metadata.conversation_id"),
    ({"messages": HELLO, "metadata": {"user_id": "ana\x00"}}, "metadata.user_id"),
    ({"messages": HELLO, "metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}},
     "metadata.a.b.c.d.e.f.g.h"),
    ({"messages": HELLO, "metadata": {"x" * 65: 1}}, "metadata"),
    ({"messages": HELLO, "metadata": {"blob": "x" * 20_000}}, "metadata"),
    ({"messages": HELLO, "timeout": 0}, "timeout"), ({"messages": HELLO, "model": ""}, "model"),
    ({"messages": HELLO, "frobnicate": 1}, "frobnicate"),
]


@pytest.mark.parametrize(("body", "param"), BAD)
def test_a_bad_value_gets_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    error = _refused(body)
    assert error.param == param, f"{error.param!r}: {error.message}"
    assert error.message.startswith(param)


def test_json_nested_past_the_limit_is_refused_at_parse_wherever_it_is() -> None:
    deep: Any = 1
    for _ in range(65):
        deep = [deep]
    for body in ({"messages": HELLO, "logit_bias": deep}, {"messages": [{"role": "user", "content": deep}]}):
        assert "nested deeper than 64" in _refused(body).message


def test_a_seed_past_64_bits_is_refused() -> None:
    with pytest.raises(GatewayError) as caught:
        parse_chat_request(b'{"messages": [{"role": "user", "content": "x"}], "seed": 18446744073709551616}')
    assert caught.value.param == "seed"


def test_control_characters_are_stripped_from_text() -> None:
    chat = _parse({"messages": [{"role": "user", "content": "o\x00l\x07á"}]})
    assert chat.messages[0]["content"] == "olá"
