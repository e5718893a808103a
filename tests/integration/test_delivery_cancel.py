"""Giving up cancels: whenever the API stops waiting for a job (deadline, client gone, lost reply channel), the
job and its provider call are cancelled, and a request is billed once however often the SDK retries it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from common import keys
from tests.harness import MASTER_KEY, Gateway, RedisProcess, poll

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture(scope="module")
def gateway(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = Gateway(Path(tmp_path_factory.mktemp("cancel")), own_redis,
                      worker_specs=[("tier1,tier2,tier3,tier4", 8)]).start()
    yield running
    running.stop()


def body(text: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"model": "tier2", "messages": [{"role": "user", "content": text}],
            "metadata": {"organization_id": "org_123", "user_id": user}, **extra}


def records_of(gateway: Gateway, user: str) -> list[dict[str, Any]]:
    return [r for r in gateway.audit_records() if r.get("user_id") == user]


def test_a_sync_request_past_its_deadline_bills_nothing_and_its_provider_call_is_closed(gateway: Gateway) -> None:
    poll(lambda: gateway.sim_connections() == 0, "the simulator keeps idle connections open", seconds=15)
    user = uuid.uuid4().hex
    started = time.monotonic()
    response = httpx.post(f"{gateway.ai_url}/chat/completions", json=body("[sim ttft_ms=8000] devagar", user),
                          headers={**gateway.headers(), "x-gateway-timeout": "2"}, timeout=30)
    assert response.status_code == 504, response.text
    assert time.monotonic() - started < 4
    poll(lambda: gateway.sim_connections() == 0, "the slow provider call is still open after the 504", seconds=2)
    records = poll(lambda: records_of(gateway, user), "the request has no audit record")
    assert len(records) == 1, records
    assert (records[0]["cost_usd"], records[0]["completion_tokens"]) == (0.0, 0), f"billed: {records[0]}"


def test_a_client_that_disconnects_mid_stream_cancels_the_job_and_is_billed_for_what_it_was_sent(
        gateway: Gateway) -> None:
    user = uuid.uuid4().hex
    before = gateway.sim_stats()
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", headers=gateway.headers(), timeout=30,
                      json=body("[sim tokens=300 token_delay_ms=30] conta tudo", user, stream=True)) as response:
        assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.read()[:500]!r}"
        chunks = 0
        for line in response.iter_lines():
            chunks += line.startswith("data: ")
            if chunks == 5:
                break
    poll(lambda: gateway.sim_stats()["streams_cancelled"] > before["streams_cancelled"],
         "the provider stream was not cancelled after the client left", seconds=8)
    assert gateway.sim_stats()["streams_completed"] == before["streams_completed"]
    record = poll(lambda: records_of(gateway, user), "the cut stream has no audit record")[0]
    assert record["status"] == 499, record
    assert 0 < record["completion_tokens"] < 100, f"billed for more than was sent: {record}"


def test_a_stream_whose_client_leaves_before_the_first_token_is_cancelled_at_once(gateway: Gateway) -> None:
    """The first token would come after 8 s, beyond the keep-alive interval (10 s by default, 8 s before the stream
    starts): the client leaving after 1 s cancels the provider stream then, not when the stream would start."""
    user = uuid.uuid4().hex
    before = gateway.sim_stats()
    left = threading.Event()

    def leave_early() -> None:
        try:
            httpx.post(f"{gateway.ai_url}/chat/completions", headers=gateway.headers(), timeout=1.0,
                       json=body("[sim ttft_ms=8000 tokens=5] pensa", user, stream=True))
        except httpx.TimeoutException:
            left.set()

    thread = threading.Thread(target=leave_early)
    thread.start()
    thread.join(10)
    assert left.is_set(), "the request should have timed out on the client's side"
    left_at = time.monotonic()
    poll(lambda: gateway.sim_stats()["streams_cancelled"] > before["streams_cancelled"],
         "the provider stream was not cancelled after the client left", seconds=4)
    assert time.monotonic() - left_at < 4
    assert gateway.sim_stats()["streams_completed"] == before["streams_completed"]
    record = poll(lambda: records_of(gateway, user), "the abandoned stream has no audit record")[0]
    assert (record["status"], record["cost_usd"]) == (499, 0.0), record


def cut_reply_channel_once_running(gateway: Gateway) -> threading.Thread:
    """In the background: once a tier-2 job runs, kill the API process's pub/sub connection (Redis's CLIENT KILL:
    what a Redis restart or a network cut does to it)."""
    redis = gateway.redis.client()
    calls_before = gateway.sim_stats()["requests"]

    def cut() -> None:
        poll(lambda: redis.hlen(keys.inflight("tier2")), "the job never started")
        poll(lambda: gateway.sim_stats()["requests"] > calls_before, "the job never called the provider")
        listeners = [c for c in redis.client_list(_type="pubsub") if c["sub"] == "2"]  # reply + cache channels
        assert len(listeners) == 1, f"expected the API process's one listener: {listeners}"
        redis.client_kill_filter(_id=listeners[0]["id"])

    cutter = threading.Thread(target=cut)
    cutter.start()
    return cutter


def test_a_sync_request_whose_reply_channel_drops_is_still_answered_and_billed_once(gateway: Gateway) -> None:
    """The worker keeps a sync answer beside publishing it: the API, subscribed again within its grace, collects
    it, so the one job the client sees is the one billed."""
    user = uuid.uuid4().hex
    client = openai.OpenAI(base_url=gateway.ai_url, api_key=MASTER_KEY, max_retries=0, timeout=30)
    cutter = cut_reply_channel_once_running(gateway)
    answer = client.chat.completions.with_raw_response.create(
        model="tier2", messages=[{"role": "user", "content": "[sim ttft_ms=1500] responde com calma"}],
        extra_body={"metadata": {"organization_id": "org_123", "user_id": user}})
    cutter.join(10)
    assert answer.parse().choices[0].message.content
    record = poll(lambda: records_of(gateway, user), "the answer has no audit record")
    assert [(r["request_id"], r["status"]) for r in record] == [(answer.headers["x-request-id"], 200)], record
    assert record[0]["cost_usd"] > 0


def test_a_stream_whose_reply_channel_drops_is_cancelled_and_the_sdk_retry_is_billed_once(
        gateway: Gateway) -> None:
    """A stream cannot be replayed: cut before its first token, it ends with 503 and the SDK retries it (under a new
    request id). The first job is cancelled, so only the answer delivered is billed."""
    user = uuid.uuid4().hex
    client = openai.OpenAI(base_url=gateway.ai_url, api_key=MASTER_KEY, max_retries=2, timeout=30)
    cutter = cut_reply_channel_once_running(gateway)
    stream = client.chat.completions.create(
        model="tier2", messages=[{"role": "user", "content": "[sim ttft_ms=3000 tokens=5] responde com calma"}],
        stream=True, extra_body={"metadata": {"organization_id": "org_123", "user_id": user}})
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    cutter.join(10)
    assert text

    def both_recorded() -> list[dict[str, Any]]:
        records = records_of(gateway, user)
        return records if len(records) >= 2 else []

    records = poll(both_recorded, "expected the cut attempt and the retry to have audit records")
    billed = [r for r in records if r["cost_usd"] > 0]
    assert len(billed) == 1, f"billed {len(billed)} times: {[(r['status'], r['cost_usd']) for r in records]}"
    assert billed[0]["status"] == 200
    assert len({r["request_id"] for r in records}) == len(records) == 2, records
