"""GET /ai/queues: what an operator sees of the tier queues, checked against real workers (the dashboard, which
shows the same and more, is tested in a browser in test_dashboard.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Gateway, RedisProcess, poll

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ops(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # tier4 has one worker with one slot, so a second tier-4 job has to wait in the queue.
    specs = [("tier1,tier2,tier3", 4), ("tier4", 1)]
    running = Gateway(Path(tmp_path_factory.mktemp("ops")), own_redis, worker_specs=specs).start()
    yield running
    running.stop()


def queues(gateway: Gateway) -> dict[str, Any]:
    response = httpx.get(f"{gateway.ai_url}/queues", headers=gateway.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate: Callable[[dict[str, Any]], bool], gateway: Gateway, seconds: float = 15) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def shown() -> dict[str, Any] | None:
        last.clear()
        last.update(queues(gateway))
        return dict(last) if predicate(last) else None

    return poll(shown, lambda: f"/ai/queues never showed what was expected; last:\n{last}", seconds, interval=0.2)


def ask_in_background(gateway: Gateway, tier: str, text: str) -> threading.Thread:
    body = {"model": tier, "messages": [{"role": "user", "content": text}],
            "metadata": {"organization_id": "org_123"}}  # enterprise plan: every tier

    def ask() -> None:
        httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(), timeout=60)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def test_queues_needs_the_master_key(ops: Gateway) -> None:
    assert httpx.get(f"{ops.ai_url}/queues", timeout=10).status_code == 401
    assert httpx.get(f"{ops.ai_url}/queues", headers=ops.headers("sk-wrong"), timeout=10).status_code == 401


def test_queues_lists_every_tier_with_the_workers_consuming_it(ops: Gateway) -> None:
    snapshot = wait_for(lambda s: all(s["tiers"][t]["live_workers"] for t in s["tiers"]), ops)
    assert set(snapshot["tiers"]) == {"tier1", "tier2", "tier3", "tier4"}
    tier4 = snapshot["tiers"]["tier4"]
    assert [w["pid"] for w in tier4["workers"]] == [ops.processes["worker1"].pid]
    assert tier4["workers"][0]["concurrency"] == 1 and tier4["workers"][0]["tiers"] == ["tier4"]
    assert tier4["workers"][0]["host"]
    assert [w["pid"] for w in snapshot["tiers"]["tier1"]["workers"]] == [ops.processes["worker0"].pid]
    assert tier4["backlog_limit"] == 1000, "the backlog limit is the configured one"


def test_a_running_job_shows_in_flight_and_on_its_worker_then_counts_as_completed(ops: Gateway) -> None:
    before = queues(ops)["tiers"]["tier3"]["ok_last_minute"]
    thread = ask_in_background(ops, "tier3", "[sim ttft_ms=2500] explain the integration")
    # the worker's own figures come with its heartbeat, every 2 s
    running = wait_for(lambda s: s["tiers"]["tier3"]["in_flight"] == 1
                       and s["tiers"]["tier3"]["workers"][0]["active"] == 1, ops)
    assert running["tiers"]["tier3"]["oldest_in_flight_seconds"] >= 0
    thread.join(30)
    done = wait_for(lambda s: s["tiers"]["tier3"]["in_flight"] == 0, ops)
    assert done["tiers"]["tier3"]["ok_last_minute"] == before + 1
    assert done["requests_last_minute_by_organization"].get("org_123", 0) >= 1


def test_a_job_waiting_behind_a_busy_worker_shows_as_queue_depth_with_its_age(ops: Gateway) -> None:
    threads = [ask_in_background(ops, "tier4", "[sim ttft_ms=4000] negotiate") for _ in range(3)]
    snapshot = wait_for(lambda s: s["tiers"]["tier4"]["depth"] >= 1, ops)
    # the first job holds the one slot for 4 s: a job still waits, and its age grows past a second
    wait_for(lambda s: s["tiers"]["tier4"]["depth"] >= 1 and s["tiers"]["tier4"]["oldest_wait_seconds"] >= 1.0,
             ops, seconds=3.5)
    assert snapshot["tiers"]["tier1"]["depth"] == 0, "other tiers' queues are untouched"
    for thread in threads:
        thread.join(60)
