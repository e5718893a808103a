"""The official openai SDK for Python against the gateway, through each wire protocol: structured output with
`parse()`, `n`, `stop`, `logprobs`, `max_tokens`, legacy functions, streaming, async, models and errors. The
simulator records what went upstream, so each test also checks the provider got the request in its own words."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.harness import MASTER_KEY, Gateway

pytestmark = pytest.mark.integration

#: One model per protocol (the default config, every model simulated in its own protocol).
PROTOCOLS = {"openai": "tier2/gpt-3.5-turbo", "anthropic": "tier2/claude-haiku", "gemini": "tier1/gemini-flash"}


class Item(BaseModel):
    sku: str
    quantity: int
    note: str | None


class Order(BaseModel):
    customer: str
    items: list[Item]
    urgent: bool


def tagged(text: str) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return tag, f"{text} ({tag})"


def upstream(gateway: Gateway, tag: str) -> list[dict[str, Any]]:
    """What the simulator received for requests carrying `tag`: [{"protocol", "model", "body"}]."""
    return [r for r in gateway.sim_stats()["recent"] if tag in json.dumps(r["body"], ensure_ascii=False)]


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_parse_with_a_json_schema_works_through_every_protocol(client: openai.OpenAI, gateway: Gateway,
                                                                protocol: str) -> None:
    tag, text = tagged("Monte o pedido do cliente Ana")
    completion = client.chat.completions.parse(model=PROTOCOLS[protocol], response_format=Order,
                                               messages=[{"role": "user", "content": text}])
    message = completion.choices[0].message
    assert isinstance(message.parsed, Order), f"parsed is {message.parsed!r} from content {message.content!r}"
    assert completion.choices[0].finish_reason == "stop" and completion.model == PROTOCOLS[protocol]
    [sent] = upstream(gateway, tag)
    assert sent["protocol"] == protocol
    body = sent["body"]
    if protocol == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
        assert body["tools"][0]["input_schema"]["required"] == ["customer", "items", "urgent"]
    elif protocol == "gemini":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert "$ref" not in json.dumps(body["generationConfig"]["responseSchema"])
    else:
        assert body["response_format"]["json_schema"]["name"] == "Order"


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_json_object_mode_answers_json_through_every_protocol(client: openai.OpenAI, protocol: str) -> None:
    completion = client.chat.completions.create(model=PROTOCOLS[protocol], response_format={"type": "json_object"},
                                                messages=[{"role": "user", "content": "Responda em JSON"}])
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_n_answers_come_back_as_n_choices_with_the_usage_of_all(client: openai.OpenAI, gateway: Gateway,
                                                                 protocol: str) -> None:
    tag, text = tagged("Me dê duas sugestões de saudação")
    completion = client.chat.completions.create(model=PROTOCOLS[protocol], n=2,
                                                messages=[{"role": "user", "content": text}])
    assert [c.index for c in completion.choices] == [0, 1]
    assert all(c.message.content for c in completion.choices)
    assert completion.usage is not None and completion.usage.completion_tokens >= 2
    calls = upstream(gateway, tag)
    assert len(calls) == (2 if protocol == "anthropic" else 1), "Messages has no n: one call per answer"


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_n_answers_stream_as_two_choices(client: openai.OpenAI, protocol: str) -> None:
    stream = client.chat.completions.create(model=PROTOCOLS[protocol], n=2, stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "Duas respostas, por favor"}])
    texts: dict[int, str] = {0: "", 1: ""}
    finishes: dict[int, str] = {}
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts[0] and texts[1] and finishes == {0: "stop", 1: "stop"}
    assert usage is not None and usage.completion_tokens >= 2


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_stop_ends_the_answer_before_the_sequence(client: openai.OpenAI, gateway: Gateway, protocol: str) -> None:
    tag, text = tagged("Olá")
    completion = client.chat.completions.create(model=PROTOCOLS[protocol], stop=["."],
                                                messages=[{"role": "user", "content": text}])
    content = completion.choices[0].message.content or ""
    assert content and "." not in content and completion.choices[0].finish_reason == "stop"
    [sent] = upstream(gateway, tag)
    stop = {"openai": lambda b: b["stop"], "anthropic": lambda b: b["stop_sequences"],
            "gemini": lambda b: b["generationConfig"]["stopSequences"]}[protocol](sent["body"])
    assert stop == ["."]


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: openai.OpenAI, protocol: str) -> None:
    completion = client.chat.completions.create(model=PROTOCOLS[protocol], max_tokens=3,
                                                messages=[{"role": "user", "content": "Conte uma história longa"}])
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


@pytest.mark.parametrize("protocol", ["openai", "gemini"])
def test_logprobs_come_back_where_the_protocol_has_them(client: openai.OpenAI, protocol: str) -> None:
    completion = client.chat.completions.create(model=PROTOCOLS[protocol], logprobs=True, top_logprobs=2,
                                                messages=[{"role": "user", "content": "Oi"}])
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert "".join(t.token for t in logprobs.content) == completion.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in logprobs.content)


def test_logprobs_on_a_pinned_model_without_them_is_a_400_naming_the_parameter(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=PROTOCOLS["anthropic"], logprobs=True,
                                       messages=[{"role": "user", "content": "Oi"}])
    error = raised.value.body
    assert isinstance(error, dict) and error["param"] == "logprobs" and error["code"] == "unsupported_parameter"


def test_logprobs_on_auto_routing_skip_the_models_without_them(client: openai.OpenAI) -> None:
    response = client.chat.completions.with_raw_response.create(
        model="auto", logprobs=True, messages=[{"role": "user", "content": "Quanto custa o plano anual?"}])
    assert response.headers["x-gateway-model"] != PROTOCOLS["anthropic"]
    assert response.parse().choices[0].logprobs is not None


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_legacy_functions_answer_with_a_function_call(client: openai.OpenAI, protocol: str) -> None:
    functions = [{"name": "check_stock", "description": "Units in stock",
                  "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}}]
    completion = client.chat.completions.create(model=PROTOCOLS[protocol], functions=functions,  # type: ignore[arg-type]
                                                function_call={"name": "check_stock"},
                                                messages=[{"role": "user", "content": "Tem o SKU 42?"}])
    choice = completion.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.function_call is not None
    assert choice.message.function_call.name == "check_stock"
    assert json.loads(choice.message.function_call.arguments) == {"sku": "sim"}


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_streamed_tool_call_through_every_protocol(client: openai.OpenAI, protocol: str) -> None:
    tools = [{"type": "function", "function": {"name": "check_stock", "parameters": {
        "type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}}}]
    with client.beta.chat.completions.stream(model=PROTOCOLS[protocol], tools=tools,  # type: ignore[arg-type]
                                             messages=[{"role": "user", "content": "Tem o SKU 42?"}]) as stream:
        final = stream.get_final_completion()
    call = (final.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "check_stock" and json.loads(call.function.arguments) == {"sku": "sim"}


def test_the_async_client_streams_and_answers_concurrently(gateway: Gateway) -> None:
    async def run() -> list[str]:
        client = openai.AsyncOpenAI(base_url=gateway.ai_url, api_key=MASTER_KEY, max_retries=0, timeout=30)
        async with client:
            async def one(model: str) -> str:
                stream = await client.chat.completions.create(model=model, stream=True,
                                                              messages=[{"role": "user", "content": "Oi"}])
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return await asyncio.gather(*(one(m) for m in PROTOCOLS.values()))

    assert all(asyncio.run(run()))


def test_models_retrieve_and_list_through_ai_and_v1(client: openai.OpenAI, gateway: Gateway) -> None:
    model = client.models.retrieve("tier2/claude-haiku")
    assert model.id == "tier2/claude-haiku" and model.owned_by == "anthropic"
    assert "response_schema" in (model.model_extra or {})["capabilities"]
    v1 = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    assert {m.id for m in v1.models.list()} == {m.id for m in client.models.list()}
    assert v1.models.retrieve("tier1/gemini-flash").id == "tier1/gemini-flash"


def test_an_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("tier9/nope")
    assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "Oi"}])
    assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "model_not_found"


@pytest.mark.parametrize("path", ["/v1", ""])
def test_litellms_paths_answer_chat_completions(gateway: Gateway, path: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway.base_url}{path}", api_key=MASTER_KEY, max_retries=0)
    assert client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Oi"}]).choices


def test_litellms_liveliness_spelling_answers(gateway: Gateway) -> None:
    assert httpx.get(f"{gateway.base_url}/health/liveliness", timeout=5).json() == {"status": "ok"}
