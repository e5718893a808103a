"""Gemini adapter: OpenAI requests out, real generateContent wire messages in, OpenAI shapes back."""

from __future__ import annotations

import json

import pytest

from config import Deployment
from workers.providers import ProviderError, adapter_for
from workers.providers.base import SSEEvent

adapter = adapter_for("gemini")

FLASH = Deployment(name="tier1/gemini-flash", tier="tier1", provider="gemini", model_id="gemini-1.5-flash",
                   protocol="gemini", api_base="https://generativelanguage.googleapis.com", api_key="AIza-test",
                   simulated=False, input_cost_per_token=7.5e-8, output_cost_per_token=3e-7,
                   max_input_tokens=1048576, weight=1.0, timeout=None)

TOOLS = [{"type": "function", "function": {
    "name": "schedule_visit", "description": "Book a visit",
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"date": {"type": "string"}}, "required": ["date"]}}}]


def test_contents_system_instruction_and_generation_config() -> None:
    call = adapter.request(FLASH, {"messages": [
        {"role": "system", "content": "Você é um vendedor."},
        {"role": "user", "content": [
            {"type": "text", "text": "Olá"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": "Oi! Como posso ajudar?"},
        {"role": "user", "content": "Preço?"}],
        "temperature": 0.3, "top_p": 0.9, "max_tokens": 200, "stop": ["FIM"], "logit_bias": {"1": 2},
        "response_format": {"type": "json_object"}}, stream=False)
    assert call.url == ("https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-flash:generateContent")
    assert call.headers["x-goog-api-key"] == "AIza-test"
    assert call.json["systemInstruction"] == {"parts": [{"text": "Você é um vendedor."}]}
    assert call.json["contents"] == [
        {"role": "user", "parts": [{"text": "Olá"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
        {"role": "model", "parts": [{"text": "Oi! Como posso ajudar?"}]},
        {"role": "user", "parts": [{"text": "Preço?"}]}]
    assert call.json["generationConfig"] == {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 200,
                                             "stopSequences": ["FIM"], "responseMimeType": "application/json"}
    assert "logit_bias" not in json.dumps(call.json), "parameters Gemini lacks are dropped"


def test_streaming_uses_stream_generate_content_with_sse() -> None:
    call = adapter.request(FLASH, {"messages": [{"role": "user", "content": "Oi"}]}, stream=True)
    assert call.url.endswith("/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse")


def test_tools_calls_and_results_are_translated() -> None:
    call = adapter.request(FLASH, {"messages": [
        {"role": "user", "content": "Agende para amanhã"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "schedule_visit",
                                                              "arguments": '{"date": "2025-05-02"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "agendado"}],
        "tools": TOOLS, "tool_choice": "required"}, stream=False)
    assert call.json["tools"] == [{"functionDeclarations": [{
        "name": "schedule_visit", "description": "Book a visit",
        "parameters": {"type": "object", "properties": {"date": {"type": "string"}}, "required": ["date"]}}]}]
    assert call.json["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert call.json["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "schedule_visit", "args": {"date": "2025-05-02"}}}]}
    assert call.json["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "schedule_visit", "response": {"content": "agendado"}}}]}


def test_a_whole_answer_becomes_an_openai_completion() -> None:
    wire = {"candidates": [{"content": {"parts": [{"text": "Temos sim, "}, {"text": "em estoque."}], "role": "model"},
                            "finishReason": "STOP", "index": 0, "avgLogprobs": -0.12}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15},
            "modelVersion": "gemini-1.5-flash", "responseId": "abc123"}
    completion = adapter.response(FLASH, wire)
    assert completion["model"] == "tier1/gemini-flash"
    assert completion["choices"][0]["message"]["content"] == "Temos sim, em estoque."
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}


def test_a_function_call_answer_gets_an_id_and_finish_reason_tool_calls() -> None:
    wire = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "schedule_visit",
                                                                    "args": {"date": "amanhã"}}}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 8, "totalTokenCount": 38}}
    choice = adapter.response(FLASH, wire)["choices"][0]
    call = choice["message"]["tool_calls"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert call["id"].startswith("call_") and call["function"]["name"] == "schedule_visit"
    assert json.loads(call["function"]["arguments"]) == {"date": "amanhã"}


@pytest.mark.parametrize(("reason", "finish"), [("STOP", "stop"), ("MAX_TOKENS", "length"),
                                                ("SAFETY", "content_filter"), ("RECITATION", "content_filter")])
def test_finish_reasons_map(reason: str, finish: str) -> None:
    wire = {"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": reason}]}
    assert adapter.response(FLASH, wire)["choices"][0]["finish_reason"] == finish


STREAM = [
    '{"candidates": [{"content": {"parts": [{"text": "Temos"}],"role": "model"},"index": 0}],'
    '"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-1.5-flash"}',
    '{"candidates": [{"content": {"parts": [{"text": " sim."}],"role": "model"},"index": 0}],'
    '"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-1.5-flash"}',
    '{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],'
    '"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 3,"totalTokenCount": 12},'
    '"modelVersion": "gemini-1.5-flash"}',
]


def test_stream_events_become_chunks_with_the_last_usage() -> None:
    translator = adapter.stream_translator(FLASH, "chatcmpl-g", 1700000000)
    chunks = [c for data in STREAM for c in translator.translate(SSEEvent(None, data))]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content") or "" for d in deltas) == "Temos sim."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert translator.usage == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def test_a_streamed_function_call_is_one_whole_tool_call_chunk() -> None:
    translator = adapter.stream_translator(FLASH, "chatcmpl-g", 0)
    data = ('{"candidates": [{"content": {"parts": [{"functionCall": {"name": "schedule_visit","args": '
            '{"date": "amanhã"}}}],"role": "model"},"finishReason": "STOP","index": 0}]}')
    chunks = translator.translate(SSEEvent(None, data))
    call = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert call["index"] == 0 and call["type"] == "function" and json.loads(call["function"]["arguments"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(("status", "error", "kind"), [
    (429, {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
           "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}, "rate_limit"),
    (400, {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
           "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}, "auth"),
    (400, {"code": 400, "message": "The input token count (1200000) exceeds the maximum number of tokens allowed "
                                   "(1048576).", "status": "INVALID_ARGUMENT"}, "context_length"),
    (404, {"code": 404, "message": "models/gemini-9 is not found", "status": "NOT_FOUND"}, "not_found"),
    (503, {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}, "server"),
])
def test_error_bodies_are_classified(status: int, error: dict, kind: str) -> None:
    found = adapter.error(status, {"error": error}, {})
    assert found.kind == kind
    if kind == "rate_limit":
        assert found.retry_after == 7.0, "RetryInfo.retryDelay stands in for a retry-after header"


def test_an_error_inside_the_stream_raises() -> None:
    translator = adapter.stream_translator(FLASH, "chatcmpl-g", 0)
    with pytest.raises(ProviderError) as raised:
        translator.translate(SSEEvent(None, '{"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}}'))
    assert raised.value.kind == "server"
