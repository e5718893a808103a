"""One request's whole path over HTTP: API → Celery queue → worker → simulator → pub/sub → client."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from tests.harness import MASTER_KEY, Gateway

pytestmark = pytest.mark.integration

HELLO = [{"role": "user", "content": "Olá!"}]


def test_a_sync_completion_through_the_openai_sdk_has_content_usage_and_gateway_headers(
        client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=HELLO, extra_body={"metadata": {"organization_id": "org_123", "intent": "greeting"}})
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content, "the answer has no text"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == raw.headers["x-gateway-model"] == "tier1/llama-3.2-3b"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert raw.headers["x-gateway-tier"] == "tier1"
    assert "greeting" in raw.headers["x-gateway-route-reason"]
    assert raw.headers["x-gateway-cache"] == "MISS"
    assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}"
    # cost = usage x the configured price of tier1/llama-3.2-3b (6e-8 per token both ways)
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(completion.usage.total_tokens * 6e-8, rel=1e-6)


def test_a_stream_through_the_openai_sdk_assembles_the_same_text_and_reports_usage_when_asked(
        client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="tier2", messages=HELLO)
    chunks = list(client.chat.completions.create(model="tier2", messages=HELLO, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content, "the simulator is deterministic: stream and sync must agree"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {"tier2/claude-haiku"}


def test_a_stream_without_include_usage_has_no_usage_chunk_and_ends_with_done(gateway: Gateway) -> None:
    body = {"messages": HELLO, "stream": True}
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers()) as resp:
        assert resp.status_code == 200, f"expected 200, got {resp.status_code}: {resp.read()[:500]!r}"
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        assert resp.headers["x-accel-buffering"] == "no"
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert chunks and all(c["choices"] for c in chunks), "a usage-only chunk was sent without include_usage"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_the_first_token_reaches_the_client_before_the_provider_has_finished(gateway: Gateway) -> None:
    body = {"messages": [{"role": "user", "content": "[sim token_delay_ms=300 tokens=6] oi"}], "stream": True}
    started = time.monotonic()
    arrivals = []
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers()) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.monotonic() - started)
    assert arrivals[-1] >= 1.4, f"6 tokens 300 ms apart took only {arrivals[-1]:.2f}s"
    assert arrivals[1] < 0.8, f"first content token arrived after {arrivals[1]:.2f}s: the stream is buffered"


def test_a_stream_waiting_for_a_slow_first_token_gets_keepalive_comments(gateway: Gateway) -> None:
    body = {"messages": [{"role": "user", "content": "[sim ttft_ms=2600 tokens=3] oi"}], "stream": True}
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers()) as resp:
        lines = [line for line in resp.iter_lines() if line]
    assert lines.count(": keep-alive") >= 1, lines[:5]
    assert lines[-1] == "data: [DONE]"


def test_models_lists_the_eight_seed_models_with_tier_provider_and_prices(client: openai.OpenAI,
                                                                          gateway: Gateway) -> None:
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"tier1/llama-3.2-3b", "tier1/gemini-flash", "tier2/claude-haiku", "tier2/gpt-3.5-turbo",
                           "tier3/claude-sonnet", "tier3/gpt-4", "tier4/claude-opus", "tier4/gpt-4-turbo"}
    raw = httpx.get(f"{gateway.ai_url}/models", headers=gateway.headers()).json()
    opus = next(m for m in raw["data"] if m["id"] == "tier4/claude-opus")
    assert opus["tier"] == "tier4" and opus["provider"] == "anthropic"
    assert opus["input_cost_per_token"] == 0.000015 and opus["output_cost_per_token"] == 0.000075


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer sk-wrong"}, {"authorization": "Basic abc"}])
def test_a_request_without_the_right_bearer_token_gets_401_in_openai_format(gateway: Gateway,
                                                                             headers: dict[str, str]) -> None:
    response = httpx.post(f"{gateway.ai_url}/chat/completions", json={"messages": HELLO}, headers=headers)
    assert response.status_code == 401, f"expected 401, got {response.status_code}: {response.text[:500]}"
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key" and error["message"]


def test_the_openai_sdk_raises_authentication_error_for_a_wrong_key(gateway: Gateway) -> None:
    sdk = openai.OpenAI(base_url=gateway.ai_url, api_key="sk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="auto", messages=HELLO)


@pytest.mark.parametrize(("body", "field"), [
    ({"messages": [{"role": "wizard", "content": "oi"}]}, "messages[0].role"),
    ({"messages": []}, "messages"),
    ({}, "messages"),
    ({"messages": HELLO, "temperature": 7}, "temperature"),
    ({"messages": HELLO, "max_tokens": 0}, "max_tokens"),
    ({"messages": HELLO, "stream": "yes"}, "stream"),
    ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0].type"),
    ({"messages": HELLO, "frobnicate": 1}, "frobnicate"),
])
def test_an_invalid_body_gets_400_naming_the_field(gateway: Gateway, body: dict, field: str) -> None:
    response = httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field, error
    assert field in error["message"]
    assert error["type"] == "invalid_request_error"


def test_malformed_json_gets_400_in_openai_format(gateway: Gateway) -> None:
    response = httpx.post(f"{gateway.ai_url}/chat/completions", content=b'{"messages": [',
                          headers={**gateway.headers(), "content-type": "application/json"})
    assert response.status_code == 400, f"expected 400, got {response.status_code}: {response.text[:500]}"
    assert "JSON" in response.json()["error"]["message"]


def test_a_body_over_the_size_limit_gets_413(gateway: Gateway) -> None:
    big = {"messages": [{"role": "user", "content": "x" * 1_100_000}]}
    response = httpx.post(f"{gateway.ai_url}/chat/completions", json=big, headers=gateway.headers())
    assert response.status_code == 413, f"expected 413, got {response.status_code}: {response.text[:500]}"
    assert response.json()["error"]["code"] == "request_too_large"


def test_the_openai_sdk_raises_bad_request_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="auto", messages=[{"role": "wizard", "content": "x"}])  # type: ignore
    assert "messages[0].role" in str(caught.value)


def test_a_job_that_misses_its_deadline_gets_504_at_the_deadline(gateway: Gateway) -> None:
    body = {"messages": [{"role": "user", "content": "[sim ttft_ms=5000] demora"}], "timeout": 1}
    started = time.monotonic()
    response = httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(), timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert 0.9 <= elapsed < 2.0, f"504 came after {elapsed:.2f}s for a 1 s deadline"


def test_the_deadline_header_works_through_the_openai_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="auto", extra_headers={"x-gateway-timeout": "1"},
                                       messages=[{"role": "user", "content": "[sim ttft_ms=4000] demora"}])
    assert caught.value.status_code == 504


def test_a_stream_that_misses_its_deadline_ends_with_an_error_event_and_done(gateway: Gateway) -> None:
    body = {"messages": [{"role": "user", "content": "[sim token_delay_ms=400 tokens=20] longo"}], "stream": True,
            "timeout": 1.5}
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(),
                      timeout=10) as resp:
        assert resp.status_code == 200, f"expected 200, got {resp.status_code}: {resp.read()[:500]!r}"
        data = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert orjson.loads(data[-2])["error"]["code"] == "deadline_exceeded"


def test_a_client_that_disconnects_mid_stream_cancels_the_provider_stream_within_a_second(gateway: Gateway) -> None:
    before = gateway.sim_stats()["streams_cancelled"]
    body = {"messages": [{"role": "user", "content": "[sim token_delay_ms=200 tokens=200] conta uma historia"}],
            "stream": True}
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers()) as resp:
        seen = 0
        for line in resp.iter_lines():
            seen += line.startswith("data: {")
            if seen == 3:
                break
    gone = time.monotonic()
    while gateway.sim_stats()["streams_cancelled"] == before and time.monotonic() - gone < 3:
        time.sleep(0.05)
    waited = time.monotonic() - gone
    assert gateway.sim_stats()["streams_cancelled"] == before + 1, "the simulator never saw the stream cancelled"
    assert waited < 1.0, f"the provider stream was closed {waited:.2f}s after the client left"


def test_a_pinned_model_answers_and_is_named_in_the_answer(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="tier3/gpt-4", messages=HELLO)
    assert raw.parse().model == "tier3/gpt-4"
    assert raw.headers["x-gateway-tier"] == "tier3"


def test_route_returns_the_decision_without_calling_a_model(gateway: Gateway) -> None:
    before = gateway.sim_stats()["requests"]
    body = {"messages": HELLO, "metadata": {"intent": "negotiation", "organization_id": "org_123"}}
    decision = httpx.post(f"{gateway.ai_url}/route", json=body, headers=gateway.headers()).json()
    assert decision["tier"] == "tier4" and decision["models"][0].startswith("tier4/")
    assert decision["reasons"]
    assert gateway.sim_stats()["requests"] == before


def test_readiness_reports_redis_and_a_live_worker_per_tier(gateway: Gateway) -> None:
    body = httpx.get(f"{gateway.base_url}/health/readiness").json()
    assert body["status"] == "ok" and body["redis"] == "ok"
    assert all(count >= 1 for count in body["workers"].values()) and len(body["workers"]) == 4
    assert httpx.get(f"{gateway.base_url}/health/liveness").status_code == 200


def test_the_master_key_never_appears_in_the_logs(gateway: Gateway) -> None:
    assert MASTER_KEY not in gateway.log.read_text()


def test_a_short_follow_up_in_the_same_conversation_stays_within_one_tier(client: openai.OpenAI) -> None:
    meta = {"organization_id": "org_123", "conversation_id": "conv-sticky-1"}
    first = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Quero negociar um desconto para 40 licenças anuais"}],
        extra_body={"metadata": {**meta, "intent": "negotiation"}})
    assert first.headers["x-gateway-tier"] == "tier4"
    follow = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "ok, obrigado"}], extra_body={"metadata": meta})
    assert follow.headers["x-gateway-tier"] == "tier3", follow.headers["x-gateway-route-reason"]
    alone = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "ok, obrigado"}],
        extra_body={"metadata": {**meta, "conversation_id": "conv-sticky-other"}})
    assert alone.headers["x-gateway-tier"] == "tier1"


def test_a_job_sent_by_celerys_own_client_is_run_by_a_tier_worker_and_answered_on_its_reply_channel(
        gateway: Gateway) -> None:
    """The tier queues are Celery queues: a job that Celery's producer wrote (not the API's LPUSH) is taken by
    the worker's loop like any other."""
    from celery import Celery

    from common import keys
    from common.jobs import JobEnvelope, decode_event

    envelope = JobEnvelope(id=f"celery-{time.time_ns()}", reply_to=f"test-replies-{time.time_ns()}", tier="tier2",
                           models=["tier2/gpt-3.5-turbo"], stream=False, deadline=time.time() + 30,
                           body={"model": "tier2/gpt-3.5-turbo", "messages": HELLO}, organization_id="org_123")
    pubsub = gateway.redis.client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(envelope.reply_to)
    producer = Celery("test-producer", broker=gateway.redis.url)
    producer.send_task(keys.COMPLETE_TASK, args=[envelope.to_dict()], queue="tier2", routing_key="tier2")
    deadline = time.monotonic() + 30
    event = None
    while event is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1.0)
        event = decode_event(message["data"]) if message else None
    pubsub.close()
    assert event is not None, "no answer on the reply channel within 30 s"
    assert event["type"] == "result", event
    assert event["completion"]["choices"][0]["message"]["content"]
    assert event["model"] == "tier2/gpt-3.5-turbo"
