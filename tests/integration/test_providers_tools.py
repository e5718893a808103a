"""Tool calls round-trip through each wire protocol: the OpenAI SDK on the client side, each provider's
protocol (simulated) on the other, streaming and not."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.harness import Gateway

pytestmark = pytest.mark.integration

TOOLS: list[Any] = [{"type": "function", "function": {
    "name": "check_stock", "description": "Units of a product in stock",
    "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}}}]
#: One model per protocol (the default config's simulated deployments).
MODELS = {"openai": "tier2/gpt-3.5-turbo", "anthropic": "tier2/claude-haiku", "gemini": "tier1/gemini-flash"}
#: Where each protocol puts the tool result in the request the provider receives.
RESULT_MARKERS = {"openai": '"role":"tool"', "anthropic": '"type":"tool_result"', "gemini": '"functionResponse"'}


def _ask(client: openai.OpenAI, model: str, messages: list[Any], stream: bool) -> tuple[dict[str, Any], str]:
    """(assistant message as a dict, finish_reason), whether the answer came whole or streamed."""
    if not stream:
        answer = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
        assert answer.model == model, f"expected {model} to answer, got {answer.model}"
        choice = answer.choices[0]
        return choice.message.model_dump(exclude_none=True), str(choice.finish_reason)
    content, calls, finish = "", {}, ""
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=TOOLS, stream=True):
        assert chunk.model == model, f"expected {model} to answer, got {chunk.model}"
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            slot = calls.setdefault(call.index, {"id": "", "type": "function",
                                                 "function": {"name": "", "arguments": ""}})
            slot["id"] = call.id or slot["id"]
            if call.function:
                slot["function"]["name"] += call.function.name or ""
                slot["function"]["arguments"] += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_a_tool_call_round_trips(client: openai.OpenAI, gateway: Gateway, protocol: str, stream: bool) -> None:
    model = MODELS[protocol]
    messages: list[Any] = [{"role": "user", "content": "Vocês têm o SKU 42 em estoque?"}]
    call_message, finish = _ask(client, model, messages, stream)
    assert finish == "tool_calls", f"{protocol}: expected finish_reason tool_calls, got {finish}"
    call = call_message["tool_calls"][0]
    assert call["function"]["name"] == "check_stock" and call["id"]
    assert json.loads(call["function"]["arguments"]) == {"sku": "sim"}

    messages += [{"role": "assistant", "content": None, "tool_calls": call_message["tool_calls"]},
                 {"role": "tool", "tool_call_id": call["id"], "content": '{"units": 12}'}]
    answer, finish = _ask(client, model, messages, stream)
    assert finish == "stop" and answer["content"], f"{protocol}: expected a text answer after the tool result"
    sent = json.dumps(gateway.sim_stats()["recent"][-1]["body"], separators=(",", ":"), ensure_ascii=False)
    assert gateway.sim_stats()["recent"][-1]["protocol"] == protocol
    assert RESULT_MARKERS[protocol] in sent and "units" in sent, f"{protocol}: tool result not in {sent[:400]}"
