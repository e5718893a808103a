"""Anthropic Messages adapter: OpenAI requests out, real Messages API wire messages in, OpenAI shapes back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import Deployment
from workers.providers import ProviderError, adapter_for
from workers.providers.base import SSEEvent

adapter = adapter_for("anthropic")

SONNET = Deployment(name="tier3/claude-sonnet", tier="tier3", provider="anthropic",
                    model_id="claude-3-5-sonnet-20241022", protocol="anthropic", api_base="https://api.anthropic.com",
                    api_key="sk-ant-test", simulated=False, input_cost_per_token=3e-6, output_cost_per_token=15e-6,
                    max_input_tokens=200000, weight=1.0, timeout=None)

TOOLS = [{"type": "function", "function": {
    "name": "check_stock", "description": "Stock of a product",
    "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}}}]


def test_system_prompt_is_lifted_out_and_max_tokens_defaulted() -> None:
    call = adapter.request(SONNET, {"messages": [
        {"role": "system", "content": "Você é um vendedor."},
        {"role": "developer", "content": "Seja breve."},
        {"role": "user", "content": "Olá"}], "temperature": 1.6, "stop": "FIM", "seed": 7,
        "presence_penalty": 0.5}, stream=False)
    assert call.url == "https://api.anthropic.com/v1/messages"
    assert call.headers["x-api-key"] == "sk-ant-test" and call.headers["anthropic-version"] == "2023-06-01"
    assert call.json["system"] == "Você é um vendedor.\n\nSeja breve."
    assert call.json["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Olá"}]}]
    assert call.json["max_tokens"] == 4096
    assert call.json["temperature"] == 1.0, "OpenAI's 0-2 temperature must be clamped to Anthropic's 0-1"
    assert call.json["stop_sequences"] == ["FIM"]
    assert "seed" not in call.json and "presence_penalty" not in call.json, "parameters Anthropic lacks are dropped"


def test_roles_are_made_to_alternate_and_start_with_user() -> None:
    call = adapter.request(SONNET, {"messages": [
        {"role": "assistant", "content": "Bem-vindo à loja!"},
        {"role": "user", "content": "Oi"}, {"role": "user", "content": "Tem desconto?"}]}, stream=False)
    roles = [m["role"] for m in call.json["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert [b["text"] for b in call.json["messages"][2]["content"]] == ["Oi", "Tem desconto?"]


def test_tools_tool_calls_and_tool_results_are_translated() -> None:
    body = {"messages": [
        {"role": "user", "content": "Tem o SKU 42?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_01", "type": "function", "function": {"name": "check_stock", "arguments": '{"sku": "42"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "12 unidades"}],
        "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "check_stock"}},
        "parallel_tool_calls": False, "max_tokens": 300}
    call = adapter.request(SONNET, body, stream=True)
    assert call.json["tools"] == [{"name": "check_stock", "description": "Stock of a product",
                                   "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert call.json["tool_choice"] == {"type": "tool", "name": "check_stock", "disable_parallel_tool_use": True}
    assert call.json["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_01", "name": "check_stock", "input": {"sku": "42"}}]}
    assert call.json["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "12 unidades"}]}
    assert call.json["stream"] is True and call.json["max_tokens"] == 300


def test_a_whole_answer_with_text_and_tool_use_becomes_an_openai_completion() -> None:
    wire = {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": "claude-3-5-sonnet-20241022", "stop_reason": "tool_use", "stop_sequence": None,
            "content": [{"type": "text", "text": "Vou verificar."},
                        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "check_stock",
                         "input": {"sku": "42"}}],
            "usage": {"input_tokens": 412, "output_tokens": 57, "cache_read_input_tokens": 100,
                      "cache_creation_input_tokens": 0}}
    completion = adapter.response(SONNET, wire)
    choice = completion["choices"][0]
    assert completion["model"] == "tier3/claude-sonnet"
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Vou verificar."
    assert choice["message"]["tool_calls"] == [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                                                "function": {"name": "check_stock", "arguments": '{"sku":"42"}'}}]
    assert completion["usage"] == {"prompt_tokens": 512, "completion_tokens": 57, "total_tokens": 569}


@pytest.mark.parametrize(("stop_reason", "finish"), [("end_turn", "stop"), ("max_tokens", "length"),
                                                     ("stop_sequence", "stop"), ("tool_use", "tool_calls")])
def test_stop_reasons_map_to_openai_finish_reasons(stop_reason: str, finish: str) -> None:
    wire = {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}],
            "stop_reason": stop_reason, "usage": {"input_tokens": 1, "output_tokens": 1}}
    assert adapter.response(SONNET, wire)["choices"][0]["finish_reason"] == finish


def _events(raw: str) -> list[SSEEvent]:
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append(SSEEvent(lines.get("event"), lines["data"]))
    return events


#: A tool-using answer as api.anthropic.com streams it (text block, tool_use block with input_json_delta).
STREAM = (Path(__file__).parent / "wire" / "anthropic_messages_stream.sse").read_text()


def test_the_streaming_event_sequence_becomes_openai_chunks_with_usage() -> None:
    translator = adapter.stream_translator(SONNET, "chatcmpl-x", 1700000000)
    chunks = [c for event in _events(STREAM) for c in translator.translate(event)]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content") or "" for d in deltas[1:]) == "Vou ver"
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "check_stock", "arguments": ""}}
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"sku": "42"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert {c["id"] for c in chunks} == {"chatcmpl-x"} and {c["model"] for c in chunks} == {"tier3/claude-sonnet"}
    assert translator.usage == {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}


def test_an_error_event_mid_stream_raises_a_classified_provider_error() -> None:
    translator = adapter.stream_translator(SONNET, "chatcmpl-x", 0)
    event = SSEEvent("error", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    with pytest.raises(ProviderError) as raised:
        translator.translate(event)
    assert raised.value.kind == "server" and raised.value.retryable


@pytest.mark.parametrize(("status", "error_type", "message", "kind"), [
    (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", "rate_limit"),
    (529, "overloaded_error", "Overloaded", "server"),
    (401, "authentication_error", "invalid x-api-key", "auth"),
    (403, "permission_error", "Your API key does not have permission", "auth"),
    (404, "not_found_error", "model: claude-9", "not_found"),
    (400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", "context_length"),
    (400, "invalid_request_error", "messages.0.content: Input should be a valid list", "bad_request"),
])
def test_error_bodies_are_classified(status: int, error_type: str, message: str, kind: str) -> None:
    payload = {"type": "error", "error": {"type": error_type, "message": message}}
    error = adapter.error(status, payload, {"retry-after": "3"} if status == 429 else {})
    assert (error.kind, error.message) == (kind, message)
    if status == 429:
        assert error.retry_after == 3.0
