"""Cooldowns are shared in Redis: one worker process cools a model down, another honours it, /ai/models shows
it, and when it runs out exactly one probe request is let through."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Gateway, RedisProcess

pytestmark = pytest.mark.integration

HAIKU, GPT35, LLAMA = "claude-3-haiku-20240307", "gpt-3.5-turbo", "meta-llama/Llama-3.2-3B-Instruct-Turbo"
COOLDOWN = 3.0


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Two worker processes: A serves tier1 (and tier3), B serves tier2 (and tier4); one failure cools a model."""
    redis = RedisProcess.start()
    overrides = {"router_settings": {"num_retries": 0, "allowed_fails": 1, "cooldown_time": COOLDOWN}}
    gateway = Gateway(Path(tmp_path_factory.mktemp("cooldown")), redis, config_overrides=overrides,
                      worker_specs=[("tier1,tier3", 20), ("tier2,tier4", 20)]).start()
    yield gateway
    gateway.stop()
    redis.stop()


def chat(gateway: Gateway, model: str, text: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "metadata": {"organization_id": "org_123"}}
    return httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(), timeout=30)


def models(gateway: Gateway) -> dict[str, dict[str, Any]]:
    listing = httpx.get(f"{gateway.ai_url}/models", headers=gateway.headers(), timeout=10).json()
    return {m["id"]: m for m in listing["data"]}


def calls(gateway: Gateway, tag: str) -> list[str]:
    return [r["model"] for r in gateway.sim_stats()["recent"] if tag in str(r["body"])]


def tag(**faults: Any) -> str:
    return "[sim " + " ".join(f"{k}={v}" for k, v in faults.items()) + f" id={uuid.uuid4().hex[:10]}]"


def test_a_cooldown_set_by_one_worker_process_is_honoured_by_another_then_probed(split: Gateway) -> None:
    # Worker A (tier1) sees llama fail once: llama cools down for everyone.
    first = tag(fail=500, models=LLAMA)
    answer = chat(split, "tier1/llama-3.2-3b", f"{first} Oi")
    assert answer.status_code == 200 and answer.json()["model"] == "tier1/gemini-flash", \
        f"got {answer.status_code}: {answer.text[:500]}"
    listed = models(split)["tier1/llama-3.2-3b"]
    assert listed["available"] is False and 0 < listed["cooldown_seconds_left"] <= COOLDOWN, listed
    assert models(split)["tier1/gemini-flash"]["available"] is True

    # Worker B (tier2) walks haiku -> gpt-3.5 -> llama; the first two fail, and llama must be skipped, not called.
    second = tag(fail=500, models=f"{HAIKU},{GPT35}")
    refused = chat(split, "tier2/claude-haiku", f"{second} Oi")
    assert calls(split, second) == [HAIKU, GPT35], "worker B called a model worker A had cooled down"
    assert refused.status_code == 503 and refused.headers.get("retry-after"), refused.text

    # When the cooldown runs out, one probe goes through; its success puts llama back in service.
    time.sleep(COOLDOWN + 0.2)
    probe = tag(ttft_ms=800, models=LLAMA)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: chat(split, "tier1/llama-3.2-3b", f"{probe} Oi"), range(2)))
    assert sorted(a.json()["model"] for a in answers) == ["tier1/gemini-flash", "tier1/llama-3.2-3b"], \
        "exactly one request probes the model; the other goes to the fallback"
    assert models(split)["tier1/llama-3.2-3b"]["available"] is True
    assert chat(split, "tier1/llama-3.2-3b", "Oi").json()["model"] == "tier1/llama-3.2-3b"


def test_a_failed_probe_starts_a_new_cooldown(split: Gateway) -> None:
    cooled = tag(fail=500, models=HAIKU)
    assert chat(split, "tier2/claude-haiku", f"{cooled} Oi").json()["model"] == "tier2/gpt-3.5-turbo"
    time.sleep(COOLDOWN + 0.2)
    assert chat(split, "tier2/claude-haiku", f"{cooled} Oi").json()["model"] == "tier2/gpt-3.5-turbo"
    assert calls(split, cooled) == [HAIKU, GPT35, HAIKU, GPT35], "the probe went to haiku and failed"
    assert models(split)["tier2/claude-haiku"]["available"] is False, "a failed probe cools the model down again"
