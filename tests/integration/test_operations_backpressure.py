"""Backpressure: an overloaded tier answers 503 with retry-after at once instead of 504s after its deadline,
the other tiers keep answering, and a worker drops a job whose deadline has passed without calling the model."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from common import keys
from tests.harness import Gateway, RedisProcess, poll

pytestmark = pytest.mark.integration

ORG = {"organization_id": "org_123"}
TIER1_BACKLOG = 3
TIER3_BACKLOG = 6
TIER4_BACKLOG = 3


@pytest.fixture(scope="module")
def small(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Tier 1 takes two jobs at a time and queues at most three more; tier 4 has a single slot."""
    overrides = {"tiers": {"tier1": {"backlog_limit": TIER1_BACKLOG}, "tier3": {"backlog_limit": TIER3_BACKLOG},
                           "tier4": {"backlog_limit": TIER4_BACKLOG}}}
    specs = [("tier1", 2), ("tier2,tier3", 4), ("tier4", 1)]
    running = Gateway(Path(tmp_path_factory.mktemp("backpressure")), own_redis, config_overrides=overrides,
                      worker_specs=specs).start()
    yield running
    running.stop()


def post(gateway: Gateway, tier: str, text: str, seconds: float) -> tuple[int, float, httpx.Headers]:
    started = time.monotonic()
    response = httpx.post(f"{gateway.ai_url}/chat/completions", timeout=60,
                          headers={**gateway.headers(), "x-gateway-timeout": str(seconds)},
                          json={"model": tier, "messages": [{"role": "user", "content": text}], "metadata": ORG})
    return response.status_code, time.monotonic() - started, response.headers


def test_an_overloaded_tier_gets_503s_at_once_not_504s_while_another_tier_keeps_answering(small: Gateway) -> None:
    slow = "[sim ttft_ms=1000 tokens=5] oi"
    with ThreadPoolExecutor(max_workers=28) as pool:
        tier1 = [pool.submit(post, small, "tier1", f"{slow} {n}", 6) for n in range(20)]
        time.sleep(0.3)
        tier2 = [pool.submit(post, small, "tier2", f"[sim ttft_ms=300] pergunta {n}", 6) for n in range(6)]
        tier1_results = [f.result() for f in tier1]
        tier2_results = [f.result() for f in tier2]

    statuses = Counter(status for status, _, _ in tier1_results)
    assert statuses[504] == 0, f"tier 1 timed out instead of refusing: {statuses}"
    assert statuses[503] >= 10, f"20 one-second jobs on 2 slots + {TIER1_BACKLOG} queued should refuse most: {statuses}"
    assert statuses[200] >= 2, f"the jobs the tier could take were not answered: {statuses}"
    refused = [(seconds, headers) for status, seconds, headers in tier1_results if status == 503]
    # at once: far below the 6 s deadline (the bound is loose for a 2-core CI box running 28 clients)
    assert all(seconds < 3.0 for seconds, _ in refused), f"a 503 took {max(s for s, _ in refused):.2f}s"
    assert all("retry-after" in headers for _, headers in refused)
    assert [status for status, _, _ in tier2_results] == [200] * 6, "tier 2 suffered from tier 1's overload"


def test_a_job_whose_deadline_passed_in_the_queue_is_dropped_without_calling_the_model(small: Gateway) -> None:
    redis = small.redis.client()
    with ThreadPoolExecutor(max_workers=2) as pool:
        busy = pool.submit(post, small, "tier4", "[sim ttft_ms=3000 tokens=3] negocia", 30)
        poll(lambda: redis.hlen(keys.inflight("tier4")) == 1, "the busy job never took tier 4's one slot")
        late = pool.submit(post, small, "tier4", "[sim tokens=4] expira na fila", 1)
        assert late.result()[0] == 504, f"expected 504 for the job expired in the queue, got {late.result()}"
        assert busy.result()[0] == 200, f"expected the busy job answered, got {busy.result()}"

    def tier4() -> dict[str, Any]:
        return httpx.get(f"{small.ai_url}/queues", headers=small.headers(), timeout=10).json()["tiers"]["tier4"]

    poll(lambda: redis.llen("tier4") == 0 and tier4()["dropped_last_minute"] >= 1,
         lambda: f"the worker never dropped the expired job from the queue: {tier4()}")
    calls = small.sim_stats()["by_directive"]
    assert not any(d.startswith("[sim tokens=4]") for d in calls), f"the expired job reached the model: {calls}"


def test_a_worker_runs_no_more_jobs_at_once_than_its_concurrency_and_answers_the_rest_in_turn(small: Gateway) -> None:
    """Tier 4's worker has one slot: three one-second jobs sent together run one after the other, all answered."""
    seen_active: list[int] = []

    def watch_active() -> None:
        snapshot = httpx.get(f"{small.ai_url}/queues", headers=small.headers(), timeout=10).json()
        seen_active.extend(worker["active"] for worker in snapshot["tiers"]["tier4"]["workers"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = [pool.submit(post, small, "tier4", f"[sim ttft_ms=1000 tokens=3] vez {n}", 20) for n in range(3)]
        while not all(job.done() for job in jobs):
            watch_active()
            time.sleep(0.1)
        statuses = [job.result()[0] for job in jobs]
    elapsed = time.monotonic() - started
    assert statuses == [200, 200, 200]
    assert elapsed >= 2.9, f"three one-second jobs on one slot ended in {elapsed:.2f}s: they ran side by side"
    assert seen_active and max(seen_active) == 1, f"the one-slot worker reported {max(seen_active)} jobs at once"


def test_a_burst_of_more_requests_than_the_backlog_limit_is_all_answered_by_an_idle_fast_tier(small: Gateway) -> None:
    """The limit bounds the jobs waiting, not the jobs admitted per second: 60 requests in a burst from 5 clients
    (never more than 5 waiting) to a tier whose backlog limit is 6 are all answered."""
    with ThreadPoolExecutor(max_workers=TIER3_BACKLOG - 1) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda n: post(small, "tier3", f"rápida {n}", 20), range(60)))
        elapsed = time.monotonic() - started
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {200: 60}, f"a burst the tier can take was refused ({elapsed:.1f}s): {statuses}"


def test_a_stopped_tier_with_a_full_queue_answers_503_backlog_full_at_once(small: Gateway) -> None:
    """Tier 4's one slot is held by an upstream that never answers (until its 3 s deadline): three jobs wait, a
    fourth is refused at once; the three are answered once the slot is free."""
    redis = small.redis.client()
    with ThreadPoolExecutor(max_workers=TIER4_BACKLOG + 1) as pool:
        held = pool.submit(post, small, "tier4", "[sim hang=1] segura", 3)
        poll(lambda: redis.hlen(keys.inflight("tier4")) == 1, "the hanging job never started")
        waiting = [pool.submit(post, small, "tier4", f"espera {n}", 20) for n in range(TIER4_BACKLOG)]
        poll(lambda: redis.llen("tier4") == TIER4_BACKLOG, "the tier-4 queue never filled")
        status, seconds, headers = post(small, "tier4", "uma a mais", 20)
        assert status == 503, f"a request past the backlog limit got {status}"
        assert seconds < 1.0, f"the 503 took {seconds:.2f}s"
        assert "retry-after" in headers
        small.wait_recorded()
        refused = small.audit_records(request_id=headers["x-request-id"])
        assert [(r["status"], r["error"]["code"]) for r in refused] == [(503, "backlog_full")], refused
        assert [f.result()[0] for f in [held, *waiting]] == [504] + [200] * TIER4_BACKLOG


