"""Parity across protocols: what an OpenAI request asks (JSON answers, n, logprobs, stop, legacy functions) reaches
Anthropic and Gemini in their own words, and their answers come back as OpenAI writes them."""

from __future__ import annotations

import dataclasses
import json

from config import Deployment
from workers.providers import adapter_for
from workers.providers.base import SSEEvent
from workers.providers.fanout import FanOutTranslator, fan_out, merge, stream_translator
from workers.providers.legacy import as_function_call

anthropic = adapter_for("anthropic")
gemini = adapter_for("gemini")
openai = adapter_for("openai")

SONNET = Deployment(name="tier3/claude-sonnet", tier="tier3", provider="anthropic",
                    model_id="claude-3-5-sonnet-20241022", protocol="anthropic", api_base="https://api.anthropic.com",
                    api_key="sk-ant-test", simulated=False, input_cost_per_token=3e-6, output_cost_per_token=15e-6,
                    max_input_tokens=200000, weight=1.0, timeout=None,
                    capabilities=frozenset({"function_calling", "response_schema", "vision"}))
FLASH = Deployment(name="tier1/gemini-flash", tier="tier1", provider="gemini", model_id="gemini-1.5-flash",
                   protocol="gemini", api_base="https://generativelanguage.googleapis.com", api_key="AIza-test",
                   simulated=False, input_cost_per_token=7.5e-8, output_cost_per_token=3e-7,
                   max_input_tokens=1048576, weight=1.0, timeout=None,
                   capabilities=frozenset({"function_calling", "response_schema", "logprobs", "n"}))
GPT = dataclasses.replace(SONNET, name="tier3/gpt-4", provider="openai", model_id="gpt-4", protocol="openai",
                          api_base="https://api.openai.com/v1")

#: What `client.chat.completions.parse(response_format=Order)` sends for a pydantic model with a nested one.
ORDER_FORMAT = {"type": "json_schema", "json_schema": {"name": "Order", "strict": True, "schema": {
    "$defs": {"Item": {"type": "object", "additionalProperties": False, "title": "Item",
                       "properties": {"sku": {"type": "string", "title": "Sku"},
                                      "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                       "required": ["sku", "note"]}},
    "type": "object", "additionalProperties": False, "title": "Order",
    "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                   "total": {"type": "number"}},
    "required": ["items", "total"]}}}
ASK = [{"role": "user", "content": "Monte o pedido"}]


def test_anthropic_gets_the_json_schema_as_a_forced_tool() -> None:
    call = anthropic.request(SONNET, {"messages": ASK, "response_format": ORDER_FORMAT}, stream=False)
    tool = call.json["tools"][0]
    assert tool["name"] == "json_response" and tool["input_schema"] == ORDER_FORMAT["json_schema"]["schema"]
    assert call.json["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_anthropic_keeps_the_callers_tools_choosable_beside_the_json_tool() -> None:
    tools = [{"type": "function", "function": {"name": "check_stock", "parameters": {"type": "object"}}}]
    call = anthropic.request(SONNET, {"messages": ASK, "tools": tools, "response_format": {"type": "json_object"}},
                             stream=False)
    assert [t["name"] for t in call.json["tools"]] == ["check_stock", "json_response"]
    assert "tool_choice" not in call.json, "with tools of its own the model must stay free to call them"


def test_anthropic_json_tool_answer_is_the_message_content() -> None:
    wire = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20241022",
            "stop_reason": "tool_use", "stop_sequence": None,
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_response",
                         "input": {"items": [{"sku": "42", "note": None}], "total": 9.5}}],
            "usage": {"input_tokens": 50, "output_tokens": 20}}
    choice = anthropic.response(SONNET, wire)["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"items": [{"sku": "42", "note": None}], "total": 9.5}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


def test_anthropic_streamed_json_tool_input_arrives_as_content() -> None:
    events = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"total": '}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": "9.5}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 7}}),
    ]
    translator = anthropic.stream_translator(SONNET, "chatcmpl-x", 0)
    chunks = [c for name, data in events for c in translator.translate(SSEEvent(name, json.dumps(data)))]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("content") or "" for d in deltas) == '{"total": 9.5}'
    assert not any("tool_calls" in d for d in deltas)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_gemini_gets_the_schema_inlined_in_its_openapi_subset() -> None:
    call = gemini.request(FLASH, {"messages": ASK, "response_format": ORDER_FORMAT, "n": 2, "logprobs": True,
                                  "top_logprobs": 3, "stop": ["FIM"], "seed": 7}, stream=False)
    config = call.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    item = schema["properties"]["items"]["items"]
    assert "$defs" not in schema and "$ref" not in json.dumps(schema) and "additionalProperties" not in item
    assert item["properties"]["note"] == {"type": "string", "nullable": True}
    assert (config["candidateCount"], config["responseLogprobs"], config["logprobs"]) == (2, True, 3)
    assert config["stopSequences"] == ["FIM"] and config["seed"] == 7


def test_gemini_json_object_asks_for_json_without_a_schema() -> None:
    config = gemini.request(FLASH, {"messages": ASK, "response_format": {"type": "json_object"}},
                            stream=False).json["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_gemini_candidates_become_choices_with_logprobs() -> None:
    wire = {"candidates": [
        {"content": {"parts": [{"text": "Sim"}], "role": "model"}, "finishReason": "STOP", "index": 0,
         "logprobsResult": {"topCandidates": [{"candidates": [{"token": "Sim", "logProbability": -0.1},
                                                              {"token": "Não", "logProbability": -2.5}]}],
                            "chosenCandidates": [{"token": "Sim", "logProbability": -0.1}]}},
        {"content": {"parts": [{"text": "Claro"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 1}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}}
    completion = gemini.response(FLASH, wire)
    first, second = completion["choices"]
    assert (first["index"], first["message"]["content"], second["index"], second["message"]["content"]) == \
        (0, "Sim", 1, "Claro")
    assert second["finish_reason"] == "length" and second["logprobs"] is None
    token = first["logprobs"]["content"][0]
    assert token["token"] == "Sim" and token["logprob"] == -0.1 and token["bytes"] == list(b"Sim")
    assert [t["token"] for t in token["top_logprobs"]] == ["Sim", "Não"]
    assert completion["usage"]["completion_tokens"] == 2


def test_gemini_stream_keeps_each_candidate_apart() -> None:
    translator = gemini.stream_translator(FLASH, "chatcmpl-g", 0)
    data = {"candidates": [{"content": {"parts": [{"text": "A"}]}, "index": 0},
                           {"content": {"parts": [{"text": "B"}]}, "index": 1, "finishReason": "STOP"}]}
    chunks = translator.translate(SSEEvent(None, json.dumps(data)))
    by_choice = {(c["choices"][0]["index"], c["choices"][0]["delta"].get("content"), c["choices"][0]["finish_reason"])
                 for c in chunks}
    assert {(0, "A", None), (1, "B", None), (1, None, "stop")} <= by_choice


def test_openai_path_forwards_every_documented_parameter() -> None:
    body = {"messages": ASK, "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "function_call": {"name": "f"}, "reasoning_effort": "low", "service_tier": "flex", "store": False,
            "prediction": {"type": "content", "content": "x"}, "prompt_cache_key": "k", "safety_identifier": "u1",
            "verbosity": "low", "modalities": ["text"], "n": 2, "logprobs": True, "top_logprobs": 2, "seed": 1,
            "user": "u", "parallel_tool_calls": False, "response_format": ORDER_FORMAT, "stop": ["x"],
            "logit_bias": {"1": 1}, "web_search_options": {}, "audio": {"voice": "alloy", "format": "wav"}}
    sent = openai.request(GPT, body, stream=False).json
    assert {k: v for k, v in sent.items() if k != "model"} == body


def test_legacy_functions_reach_anthropic_as_tools_and_come_back_as_function_call() -> None:
    body = {"messages": ASK, "functions": [{"name": "check_stock", "parameters": {"type": "object"}}],
            "function_call": {"name": "check_stock"}}
    call = anthropic.request(SONNET, body, stream=False)
    assert call.json["tools"][0]["name"] == "check_stock"
    assert call.json["tool_choice"] == {"type": "tool", "name": "check_stock"}
    wire = {"id": "m", "content": [{"type": "tool_use", "id": "t1", "name": "check_stock", "input": {"sku": "1"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}}
    choice = as_function_call(anthropic.response(SONNET, wire))["choices"][0]
    assert choice["message"]["function_call"] == {"name": "check_stock", "arguments": '{"sku":"1"}'}
    assert choice["finish_reason"] == "function_call" and "tool_calls" not in choice["message"]


def test_n_is_native_where_the_provider_has_it_and_fanned_out_elsewhere() -> None:
    assert fan_out(FLASH, {"n": 3}) == 1 and fan_out(GPT, {"n": 3}) == 3 and fan_out(SONNET, {"n": 1}) == 1
    assert fan_out(dataclasses.replace(GPT, capabilities=GPT.capabilities | {"n"}), {"n": 3}) == 1
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    one = {"id": "a", "choices": [{"index": 0, "message": {"content": "x"}}], "usage": usage}
    merged = merge([one, one])
    assert [c["index"] for c in merged["choices"]] == [0, 1]
    assert merged["usage"] == {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}


def test_a_fanned_out_stream_numbers_each_calls_choice() -> None:
    translator = stream_translator(anthropic, SONNET, {"messages": ASK, "n": 2}, "chatcmpl-x", 0)
    assert isinstance(translator, FanOutTranslator) and len(translator.parts) == 2
    start = SSEEvent("message_start", json.dumps({"type": "message_start",
                                                  "message": {"usage": {"input_tokens": 10}}}))
    end = SSEEvent("message_delta", json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                                "usage": {"output_tokens": 4}}))
    indexes = [c["choices"][0]["index"] for p in (0, 1) for e in (start, end) for c in translator.translate_part(p, e)]
    assert indexes == [0, 0, 1, 1]
    assert translator.usage == {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}


def test_gemini_schema_keeps_what_openapi_has_and_turns_const_into_an_enum() -> None:
    schema = {"type": "object", "$id": "x", "properties": {
        "kind": {"const": "order", "type": "string"}, "qty": {"type": "integer", "exclusiveMinimum": 0, "minimum": 1},
        "tags": {"type": "array", "uniqueItems": True, "items": {"type": "string", "examples": ["a"]}}},
        "required": ["kind"]}
    sent = gemini.request(FLASH, {"messages": ASK, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": schema}}}, stream=False).json["generationConfig"]["responseSchema"]
    assert sent == {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": ["order"]}, "qty": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}}}}
