"""The response cache: repeated deterministic requests skip the provider, never cross organizations,
replay as streams, and identical concurrent requests make one provider call."""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.harness import Gateway

pytestmark = pytest.mark.integration


def _ask(gw: Gateway, text: str, **extra: Any) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}], "temperature": 0, **extra}
    return httpx.post(f"{gw.ai_url}/chat/completions", json=body, headers=gw.headers(), timeout=30)


def _fresh(text: str = "qual o prazo de entrega?") -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


def test_a_repeated_deterministic_request_is_answered_from_the_cache_without_a_provider_call(gateway: Gateway) -> None:
    text = _fresh()
    first = _ask(gateway, text)
    calls = gateway.sim_stats()["requests"]
    second = _ask(gateway, text)
    assert gateway.sim_stats()["requests"] == calls, "the second request reached the provider"
    assert first.headers["x-gateway-cache"] == "MISS" and second.headers["x-gateway-cache"] == "HIT"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert second.json()["id"] != first.json()["id"]
    assert float(second.headers["x-gateway-cost-usd"]) == 0.0
    assert second.headers["x-gateway-model"] == first.headers["x-gateway-model"]


def test_a_cached_answer_is_replayed_as_a_proper_stream(gateway: Gateway, client: openai.OpenAI) -> None:
    text = _fresh("vocês entregam em Recife?")
    whole = client.chat.completions.create(model="auto", temperature=0, messages=[{"role": "user", "content": text}])
    calls = gateway.sim_stats()["requests"]
    raw = client.chat.completions.with_raw_response.create(
        model="auto", temperature=0, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": text}])
    chunks = list(raw.parse())
    assert raw.headers["x-gateway-cache"] == "HIT"
    assert gateway.sim_stats()["requests"] == calls
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].usage is not None


def test_a_streamed_answer_fills_the_cache_for_a_later_sync_request(gateway: Gateway, client: openai.OpenAI) -> None:
    text = _fresh("tem desconto no pix?")
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="auto", temperature=0, stream=True, messages=[{"role": "user", "content": text}]) if c.choices)
    hit = _ask(gateway, text)
    assert hit.headers["x-gateway-cache"] == "HIT"
    assert hit.json()["choices"][0]["message"]["content"] == streamed


def test_organization_a_never_gets_organization_b_s_cached_answer(gateway: Gateway) -> None:
    text = _fresh()
    assert _ask(gateway, text, metadata={"organization_id": "org_123"}).headers["x-gateway-cache"] == "MISS"
    calls = gateway.sim_stats()["requests"]
    other = _ask(gateway, text, metadata={"organization_id": "org_999"})
    assert other.headers["x-gateway-cache"] == "MISS"
    assert gateway.sim_stats()["requests"] == calls + 1


def test_a_non_deterministic_request_is_not_cached_unless_it_opts_in(gateway: Gateway) -> None:
    text = _fresh()
    body = {"temperature": 0.8}
    assert _ask(gateway, text, **body).headers["x-gateway-cache"] == "MISS"
    assert _ask(gateway, text, **body).headers["x-gateway-cache"] == "MISS"
    opted = {"temperature": 0.8, "cache": {"ttl": 60}}
    assert _ask(gateway, text, **opted).headers["x-gateway-cache"] == "MISS"
    assert _ask(gateway, text, **opted).headers["x-gateway-cache"] == "HIT"


def test_no_cache_and_no_store_are_honoured(gateway: Gateway) -> None:
    text = _fresh()
    assert _ask(gateway, text, cache={"no-store": True}).headers["x-gateway-cache"] == "MISS"
    assert _ask(gateway, text).headers["x-gateway-cache"] == "MISS", "no-store stored the answer"
    assert _ask(gateway, text, cache={"no-cache": True}).headers["x-gateway-cache"] == "MISS"
    assert _ask(gateway, text).headers["x-gateway-cache"] == "HIT"


def test_different_parameters_are_different_entries(gateway: Gateway) -> None:
    text = _fresh()
    assert _ask(gateway, text, max_tokens=5).headers["x-gateway-cache"] == "MISS"
    assert _ask(gateway, text, max_tokens=6).headers["x-gateway-cache"] == "MISS"
    assert _ask(gateway, text, model="tier3").headers["x-gateway-cache"] == "MISS"


def test_identical_concurrent_requests_make_one_provider_call(gateway: Gateway) -> None:
    text = _fresh("[sim ttft_ms=800] quero um orçamento")
    calls = gateway.sim_stats()["requests"]
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: _ask(gateway, text), range(5)))
    assert gateway.sim_stats()["requests"] == calls + 1
    assert all(a.status_code == 200 for a in answers)
    assert len({a.json()["choices"][0]["message"]["content"] for a in answers}) == 1
    assert sorted(a.headers["x-gateway-cache"] for a in answers) == ["HIT"] * 4 + ["MISS"]


def test_hits_are_counted_in_usage_and_metrics_at_no_cost(gateway: Gateway) -> None:
    text = _fresh()
    org = f"org_cache_{uuid.uuid4().hex[:6]}"
    answers = [_ask(gateway, text, metadata={"organization_id": org}) for _ in range(2)]
    gateway.wait_recorded([a.headers["x-request-id"] for a in answers])
    usage = httpx.get(f"{gateway.ai_url}/usage", params={"organization_id": org}, headers=gateway.headers()).json()
    assert usage["totals"]["requests"] == 2 and usage["totals"]["cache_hits"] == 1
    metrics = httpx.get(f"{gateway.base_url}/metrics").text
    assert 'llm_cache_requests_total{result="hit"}' in metrics


def test_a_bad_cache_parameter_gets_400(gateway: Gateway) -> None:
    response = _ask(gateway, _fresh(), cache={"ttl": -1})
    assert response.status_code == 400 and response.json()["error"]["param"] == "cache.ttl", \
        f"got {response.status_code}: {response.text[:500]}"
