"""A job that goes wrong inside a worker ends at once with a clear OpenAI error event, and its record carries the
true status: the worker is fed jobs the API's validation would have refused (an older API, a bug), straight
onto the tier queue, as the API writes them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from common import keys
from common.celery_message import job_message
from common.jobs import JobEnvelope, decode_event
from tests.harness import Gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def replies(gateway: Gateway) -> Iterator[tuple[str, Any]]:
    channel = f"test-replies-{uuid.uuid4().hex}"
    pubsub = gateway.redis.client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    yield channel, pubsub
    pubsub.close()


def queue_job(client: redis.Redis, channel: str, model: str, body: dict[str, Any], **changes: Any) -> JobEnvelope:
    job = JobEnvelope(id=uuid.uuid4().hex, reply_to=channel, tier=model.split("/")[0], models=[model],
                      body={"model": model, **body}, stream=False, deadline=time.time() + 60,
                      organization_id="org_123", received_at=time.time())
    for name, value in changes.items():
        setattr(job, name, value)
    client.lpush(keys.queue(job.tier), job_message(job))
    return job


def next_event(pubsub: Any, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            return decode_event(message["data"])
    raise AssertionError(f"no event on the reply channel within {seconds}s")


def record_of(gateway: Gateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        gateway.wait_recorded()
        found = httpx.get(f"{gateway.ai_url}/admin/audit", params={"request_id": request_id},
                          headers=gateway.headers(), timeout=10).json()["data"]
        if found:
            assert len(found) == 1, f"{request_id} has {len(found)} audit records"
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no audit record of {request_id}")


@pytest.mark.parametrize(("model", "messages"), [
    ("tier2/claude-haiku", [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]),
    ("tier1/gemini-flash", [{"role": "user", "content": "oi"},
                            {"role": "assistant", "content": None, "tool_calls": "x"}]),
], ids=["image_url string to anthropic", "tool_calls string to gemini"])
def test_a_message_the_models_protocol_cannot_carry_is_answered_400_within_two_seconds(
        gateway: Gateway, replies: tuple[str, Any], model: str, messages: list[dict[str, Any]]) -> None:
    channel, pubsub = replies
    started = time.monotonic()
    job = queue_job(gateway.redis.client(), channel, model, {"messages": messages})
    event = next_event(pubsub, 5)
    assert time.monotonic() - started < 2, "the client would have waited for its deadline"
    assert (event["type"], event["status"], event["error"]["code"]) == ("error", 400, "provider_bad_request"), event
    protocol = "anthropic" if "claude" in model else "gemini"
    assert protocol in event["error"]["message"], event["error"]["message"]
    assert record_of(gateway, job.id)["status"] == 400


def test_a_job_that_breaks_the_worker_ends_with_a_500_error_event_not_a_wait_for_its_deadline(
        gateway: Gateway, replies: tuple[str, Any]) -> None:
    channel, pubsub = replies
    started = time.monotonic()
    job = queue_job(gateway.redis.client(), channel, "tier2/gpt-3.5-turbo",
                    {"messages": [{"role": "user", "content": "oi"}]}, deadline="soon")
    event = next_event(pubsub, 5)
    assert time.monotonic() - started < 2
    assert (event["type"], event["status"], event["error"]["code"]) == ("error", 500, "internal_error"), event
    assert event["error"]["type"] == "api_error"
    assert record_of(gateway, job.id)["status"] == 500
    assert not gateway.redis.client().hexists(keys.inflight("tier2"), job.id), "the broken job stayed in flight"
