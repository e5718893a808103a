"""Prometheus counters add up across two API and two worker processes, and match /ai/usage."""

from __future__ import annotations

import concurrent.futures
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import MASTER_KEY, Gateway, RedisProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gw(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = Gateway(Path(tmp_path_factory.mktemp("metrics")), own_redis, api_processes=2,
                      worker_specs=[("tier1,tier2", 20), ("tier3,tier4", 20)]).start()
    yield running
    running.stop()


def _scrape(gw: Gateway) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"{gw.base_url}/metrics", timeout=10).text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _total(samples: dict[tuple[tuple[str, str], ...], float], **match: str) -> float:
    return sum(v for labels, v in samples.items() if all(dict(labels).get(k) == val for k, val in match.items()))


def test_counters_equal_what_was_sent_across_two_api_and_two_worker_processes(gw: Gateway) -> None:
    sdk = openai.OpenAI(base_url=gw.ai_url, api_key=MASTER_KEY, max_retries=0)

    def sync(model: str) -> None:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "[sim tokens=7] oi"}])

    def stream(model: str) -> None:
        list(sdk.chat.completions.create(model=model, stream=True,
                                         messages=[{"role": "user", "content": "[sim tokens=9] oi"}]))

    plan = [(sync, "tier1")] * 6 + [(stream, "tier2")] * 4 + [(sync, "tier3")] * 3 + [(stream, "tier4")] * 2
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda step: step[0](step[1]), plan))
    bad = httpx.post(f"{gw.ai_url}/chat/completions", json={"messages": []}, headers=gw.headers())
    assert bad.status_code == 400, f"expected 400, got {bad.status_code}: {bad.text[:500]}"

    samples = _scrape(gw)
    requests = samples["llm_requests_total"]
    assert _total(requests, status="200") == 15
    assert _total(requests, tier="tier1", status="200") == 6
    assert _total(requests, tier="tier2", status="200") == 4
    assert _total(requests, tier="tier3", status="200") == 3
    assert _total(requests, tier="tier4", status="200") == 2
    assert _total(requests, status="400") == 1
    assert _total(samples["llm_latency_seconds_count"]) == 15
    assert _total(samples["llm_time_to_first_token_seconds_count"]) == 6
    assert _total(samples["llm_active_requests"]) == 0

    gw.wait_recorded()
    usage = httpx.get(f"{gw.ai_url}/usage", headers=gw.headers()).json()["totals"]
    tokens = samples["llm_tokens_total"]
    assert _total(tokens, type="completion") == usage["completion_tokens"] == 6 * 7 + 4 * 9 + 3 * 7 + 2 * 9
    assert _total(tokens, type="prompt") == usage["prompt_tokens"]
    assert _total(samples["llm_cost_total"]) == pytest.approx(usage["cost_usd"], abs=1e-9)
    assert _total(samples["llm_queue_wait_seconds_count"]) == 15
    assert set(dict(k)["tier"] for k in samples["llm_live_workers"]) == {"tier1", "tier2", "tier3", "tier4"}
    assert all(v >= 1 for v in samples["llm_live_workers"].values())
    assert "llm_queue_depth" in samples


def test_labels_stay_bounded(gw: Gateway) -> None:
    text = httpx.get(f"{gw.base_url}/metrics", timeout=10).text
    for forbidden in ("request_id", "user_id", "conversation_id", MASTER_KEY):
        assert forbidden not in text
