"""langchain-openai's ChatOpenAI against the gateway, through each wire protocol: invoke, stream, bind_tools and
with_structured_output (its default json_schema method, which depends on response_format reaching every protocol)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.harness import MASTER_KEY, Gateway

pytestmark = pytest.mark.integration

PROTOCOLS = {"openai": "tier2/gpt-3.5-turbo", "anthropic": "tier2/claude-haiku", "gemini": "tier1/gemini-flash"}


class Lead(BaseModel):
    """A sales lead read from a chat."""

    name: str = Field(description="the customer's name")
    seats: int = Field(description="how many licences they want")
    interested: bool


def chat(gateway: Gateway, model: str) -> ChatOpenAI:
    return ChatOpenAI(base_url=gateway.ai_url, api_key=MASTER_KEY, model=model, max_retries=0, timeout=30)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_invoke_answers_with_the_model_that_answered(gateway: Gateway, protocol: str) -> None:
    answer = chat(gateway, PROTOCOLS[protocol]).invoke("Olá, tudo bem?")
    assert isinstance(answer, AIMessage) and answer.content
    assert answer.response_metadata["model_name"] == PROTOCOLS[protocol]
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_stream_yields_the_answer_in_chunks(gateway: Gateway, protocol: str) -> None:
    chunks = list(chat(gateway, PROTOCOLS[protocol]).stream("Me conte sobre o plano anual"))
    assert len(chunks) > 2 and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_bind_tools_gets_a_tool_call_with_its_arguments(gateway: Gateway, protocol: str) -> None:
    def check_stock(sku: str) -> int:
        """Units of a product in stock."""
        return 12

    answer = chat(gateway, PROTOCOLS[protocol]).bind_tools([check_stock]).invoke("Tem o SKU 42 em estoque?")
    assert [c["name"] for c in answer.tool_calls] == ["check_stock"]
    assert answer.tool_calls[0]["args"] == {"sku": "sim"}


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output_returns_the_model(gateway: Gateway, protocol: str, method: str) -> None:
    model = chat(gateway, PROTOCOLS[protocol]).with_structured_output(Lead, method=method)  # type: ignore[arg-type]
    assert isinstance(model.invoke("Sou a Ana, quero 30 licenças"), Lead)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_with_structured_output_in_json_mode_returns_an_object(gateway: Gateway, protocol: str) -> None:
    model = chat(gateway, PROTOCOLS[protocol]).with_structured_output(None, method="json_mode")
    assert isinstance(model.invoke("Sou a Ana, quero 30 licenças; responda em JSON"), dict)
