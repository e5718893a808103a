"""Redis restarted under a running gateway: requests fail fast with 503 meanwhile, nothing hangs, and
afterwards everything works again without restarting any process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common import keys
from config import TIER_NAMES
from tests.harness import Gateway, RedisProcess, poll

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ORG = {"organization_id": "org_123"}


@pytest.fixture(scope="module")
def gateway_on_own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    redis = RedisProcess.start()
    running = Gateway(Path(tmp_path_factory.mktemp("redis-restart")), redis,
                      worker_specs=[("tier1,tier2,tier3,tier4", 4)]).start()
    yield running
    running.stop()
    running.redis.stop()


def ask(gateway: Gateway, text: str = "Olá!", timeout: float = 60, **extra: Any) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}], "metadata": ORG, **extra}
    return httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(), timeout=timeout)


def stream_lines(gateway: Gateway, text: str) -> list[str]:
    body = {"messages": [{"role": "user", "content": text}], "metadata": ORG, "stream": True}
    with httpx.stream("POST", f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(),
                      timeout=60) as response:
        assert response.status_code == 200, response.read()
        return [line for line in response.iter_lines() if line.startswith("data: ")]


def test_a_redis_restart_fails_requests_fast_then_everything_works_without_restarting_anything(
        gateway_on_own_redis: Gateway) -> None:
    gateway = gateway_on_own_redis
    assert ask(gateway).status_code == 200

    # A request waiting on its worker when Redis goes away.
    waiting: dict[str, Any] = {}

    def slow() -> None:
        started = time.monotonic()
        waiting["response"] = ask(gateway, "[sim ttft_ms=4000] oi")
        waiting["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    client = gateway.redis.client()
    poll(lambda: any(client.hlen(keys.inflight(tier)) for tier in TIER_NAMES),
         "the slow request never reached a worker")
    port = gateway.redis.port
    gateway.redis.process.kill()
    gateway.redis.process.wait(10)

    thread.join(30)
    assert not thread.is_alive(), "a request waiting when Redis died hangs"
    assert waiting["response"].status_code == 503, waiting["response"].text
    assert waiting["seconds"] < 10, f"the waiting request took {waiting['seconds']:.1f}s to fail"

    for _ in range(3):
        started = time.monotonic()
        response = ask(gateway, timeout=30)
        assert response.status_code == 503, f"during the outage: {response.status_code} {response.text}"
        assert "retry-after" in response.headers
        assert time.monotonic() - started < 5, "a request during the outage did not fail fast"
    readiness = httpx.get(f"{gateway.base_url}/health/readiness", timeout=10)
    assert readiness.status_code == 503, f"expected 503, got {readiness.status_code}: {readiness.text[:500]}"

    gateway.redis = RedisProcess.start(port)
    deadline = time.monotonic() + 60
    while httpx.get(f"{gateway.base_url}/health/readiness", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the gateway never became ready again after Redis came back"
        time.sleep(0.5)

    answers = [ask(gateway, f"pergunta {n}") for n in range(4)]
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    lines = stream_lines(gateway, "[sim tokens=5] oi")
    assert lines[-1] == "data: [DONE]" and len(lines) >= 3
    assert all(p.poll() is None for p in gateway.processes.values()), "a process died or was restarted"


def test_a_provider_that_hangs_is_cut_at_the_request_deadline_and_its_connection_closed(
        gateway_on_own_redis: Gateway) -> None:
    gateway = gateway_on_own_redis
    # idle keep-alive connections close after 5 s; start from none
    poll(lambda: gateway.sim_connections() == 0, "the simulator keeps connections open while idle", seconds=15)
    result: dict[str, Any] = {}

    def hang() -> None:
        started = time.monotonic()
        body = {"messages": [{"role": "user", "content": "[sim hang=1] oi"}], "metadata": ORG}
        result["response"] = httpx.post(f"{gateway.ai_url}/chat/completions", json=body, timeout=60,
                                        headers={**gateway.headers(), "x-gateway-timeout": "3"})
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=hang)
    thread.start()
    poll(lambda: gateway.sim_connections() == 1,
         lambda: f"expected the one hung provider call, found {gateway.sim_connections()} connections", seconds=1.5)
    thread.join(30)
    assert result["response"].status_code == 504, result["response"].text
    assert 2.5 < result["seconds"] < 6, f"a 3 s deadline answered after {result['seconds']:.1f}s"
    poll(lambda: gateway.sim_connections() == 0, "the hung provider connection stays open after the deadline",
         seconds=0.5)

