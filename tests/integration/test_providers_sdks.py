"""The official anthropic and google-genai SDKs, pointed at the simulator, parse its answers: exact wire format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from google import genai
from google.genai import types

from cli.local_redis import free_port
from tests.harness import stop_process, tiergate, wait_http

pytestmark = pytest.mark.integration

CLAUDE = "claude-3-haiku-20240307"
GEMINI = "gemini-1.5-flash"
STOCK_TOOL = {"name": "check_stock", "description": "Units of a product in stock",
              "input_schema": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}}


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = Path(tmp_path_factory.mktemp("sim")) / "sim.log"
    process = tiergate("sim", "--port", str(port), env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}, log=log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", processes=[process], log=log)
    yield url
    stop_process(process)


@pytest.fixture
def claude(sim_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim_url, api_key="sk-ant-sim", max_retries=0, timeout=10)


@pytest.fixture
def gemini(sim_url: str) -> genai.Client:
    return genai.Client(api_key="sim", http_options=types.HttpOptions(base_url=sim_url, timeout=10_000))


def test_anthropic_sdk_reads_a_whole_message(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=CLAUDE, max_tokens=200, system="Responda em português.",
                                     messages=[{"role": "user", "content": "Olá, tudo bem?"}])
    assert message.type == "message" and message.role == "assistant" and message.model == CLAUDE
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_anthropic_sdk_reads_a_stream_and_its_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "Oi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 5


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "stream"])
def test_anthropic_sdk_reads_a_tool_use(claude: anthropic.Anthropic, streaming: bool) -> None:
    request = {"model": CLAUDE, "max_tokens": 200, "tools": [STOCK_TOOL],
               "messages": [{"role": "user", "content": "Tem o SKU 42 em estoque?"}]}
    if streaming:
        with claude.messages.stream(**request) as stream:  # type: ignore[arg-type]
            message = stream.get_final_message()
    else:
        message = claude.messages.create(**request)  # type: ignore[arg-type]
    block = message.content[0]
    assert message.stop_reason == "tool_use"
    assert block.type == "tool_use" and block.name == "check_stock" and block.input == {"sku": "sim"}


def test_anthropic_sdk_sees_a_rate_limit_as_its_own_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as raised:
        claude.messages.create(model=CLAUDE, max_tokens=10,
                               messages=[{"role": "user", "content": "[sim fail=429 retry_after=2] oi"}])
    assert raised.value.response.headers["retry-after"] == "2"
    assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_gemini_sdk_reads_a_whole_answer(gemini: genai.Client) -> None:
    config = types.GenerateContentConfig(system_instruction="Responda em português.", max_output_tokens=100)
    answer = gemini.models.generate_content(model=GEMINI, contents="Olá, tudo bem?", config=config)
    assert answer.text
    assert answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


def test_gemini_sdk_reads_a_stream(gemini: genai.Client) -> None:
    chunks = list(gemini.models.generate_content_stream(model=GEMINI, contents="Olá"))
    assert len(chunks) > 3 and "".join(c.text or "" for c in chunks)
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.candidates_token_count


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "stream"])
def test_gemini_sdk_reads_a_function_call(gemini: genai.Client, streaming: bool) -> None:
    declaration = types.FunctionDeclaration(name="check_stock", description="Units in stock",
                                            parameters_json_schema=STOCK_TOOL["input_schema"])
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    if streaming:
        chunks = list(gemini.models.generate_content_stream(model=GEMINI, contents="Tem o SKU 42?", config=config))
        calls = [call for chunk in chunks for call in chunk.function_calls or []]
    else:
        calls = gemini.models.generate_content(model=GEMINI, contents="Tem o SKU 42?", config=config).function_calls
    assert calls and calls[0].name == "check_stock" and calls[0].args == {"sku": "sim"}


def test_gemini_sdk_sees_a_simulated_503(gemini: genai.Client) -> None:
    with pytest.raises(genai.errors.ServerError) as raised:
        gemini.models.generate_content(model=GEMINI, contents="[sim fail=503] oi")
    assert raised.value.code == 503 and raised.value.status == "UNAVAILABLE"


# --- what the simulator honours: JSON answers, stop, n, logprobs, as each SDK reads them ---------------------

ORDER_SCHEMA = {"type": "object", "properties": {
    "customer": {"type": "string"}, "urgent": {"type": "boolean"},
    "items": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
        "sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}, "required": ["sku", "quantity"]}}},
    "required": ["customer", "urgent", "items"]}


def test_anthropic_sdk_reads_a_forced_tool_answer_valid_against_its_schema(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=CLAUDE, max_tokens=200, messages=[{"role": "user", "content": "Monte o pedido"}],
        tools=[{"name": "json_response", "input_schema": ORDER_SCHEMA}],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "json_response"})
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "json_response"
    order = block.input
    assert isinstance(order, dict) and set(order) == {"customer", "urgent", "items"}
    assert order["items"][0]["quantity"] >= 1 and isinstance(order["urgent"], bool)


def test_anthropic_sdk_reads_an_answer_ended_by_a_stop_sequence(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=CLAUDE, max_tokens=200, stop_sequences=["."],
                                     messages=[{"role": "user", "content": "Olá"}])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "."
    assert message.content[0].type == "text" and "." not in message.content[0].text


def test_gemini_sdk_reads_two_candidates_with_logprobs(gemini: genai.Client) -> None:
    config = types.GenerateContentConfig(candidate_count=2, response_logprobs=True, logprobs=2,
                                         max_output_tokens=5)
    answer = gemini.models.generate_content(model=GEMINI, contents="Olá", config=config)
    assert answer.candidates and [c.index for c in answer.candidates] == [0, 1]
    first = answer.candidates[0]
    assert first.finish_reason == types.FinishReason.MAX_TOKENS
    assert first.logprobs_result and len(first.logprobs_result.chosen_candidates or []) == 5
    tops = [len(top.candidates or []) for top in first.logprobs_result.top_candidates or []]
    assert tops == [2] * 5, f"expected 2 alternatives for each of the 5 tokens, got {tops}"


def test_gemini_sdk_parses_a_json_answer_into_its_schema(gemini: genai.Client) -> None:
    from pydantic import BaseModel

    class Item(BaseModel):
        sku: str
        quantity: int

    class Order(BaseModel):
        customer: str
        urgent: bool
        items: list[Item]

    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Order)
    answer = gemini.models.generate_content(model=GEMINI, contents="Monte o pedido", config=config)
    assert isinstance(answer.parsed, Order)


def test_gemini_sdk_reads_an_answer_ended_by_a_stop_sequence(gemini: genai.Client) -> None:
    config = types.GenerateContentConfig(stop_sequences=["."])
    answer = gemini.models.generate_content(model=GEMINI, contents="Olá", config=config)
    assert answer.text and "." not in answer.text
