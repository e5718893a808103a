"""The documented topology: two API processes behind one port, workers per tier. Adding a tier-3 worker raises
tier-3 throughput without touching the other tiers; SIGTERM to the API lets an open stream finish."""

from __future__ import annotations

import signal
import threading
import time
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


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    redis = RedisProcess.start()
    specs = [("tier1,tier2,tier4", 4), ("tier3", 2)]
    running = Gateway(Path(tmp_path_factory.mktemp("scale")), redis, worker_specs=specs, api_processes=2).start()
    yield running
    running.stop()
    redis.stop()


def ask(gateway: Gateway, tier: str, text: str) -> int:
    body = {"model": tier, "messages": [{"role": "user", "content": text}], "metadata": ORG}
    return httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(),
                      timeout=60).status_code


def burst_seconds(gateway: Gateway, tier: str, count: int) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(lambda n: ask(gateway, tier, f"[sim ttft_ms=1000 tokens=4] caso {n}"), range(count)))
    assert statuses == [200] * count, statuses
    return time.monotonic() - started


def tier_workers(gateway: Gateway, tier: str) -> list[dict[str, Any]]:
    snapshot = httpx.get(f"{gateway.ai_url}/queues", headers=gateway.headers(), timeout=10).json()
    return snapshot["tiers"][tier]["workers"]


def test_two_api_processes_serve_one_port_each_with_its_own_reply_channel(topology: Gateway) -> None:
    def channels() -> list[bytes]:
        return topology.redis.client().pubsub_channels(keys.reply_channel("*"))

    # readiness answered from the first process to start
    poll(lambda: len(channels()) >= 2, lambda: f"expected two API processes listening, found {channels()}",
         seconds=30, interval=0.2)
    assert len(channels()) == 2, f"expected two reply channels, found {channels()}"
    assert all(ask(topology, "tier1", f"Oi {n}") == 200 for n in range(6))


def test_adding_a_tier3_worker_raises_tier3_throughput_without_touching_other_tiers(topology: Gateway) -> None:
    tier1_before = [w["pid"] for w in tier_workers(topology, "tier1")]
    one_worker = burst_seconds(topology, "tier3", 8)  # 8 one-second jobs on 2 slots: about 4 s

    topology.start_worker("tier3", 2, name="worker-tier3-extra")
    poll(lambda: len(tier_workers(topology, "tier3")) >= 2, "the new tier-3 worker never showed up in /ai/queues",
         seconds=60, interval=0.3)
    two_workers = burst_seconds(topology, "tier3", 8)  # 4 slots: about 2 s

    assert two_workers < one_worker * 0.75, f"8 tier-3 jobs took {one_worker:.1f}s on one worker, " \
                                            f"{two_workers:.1f}s on two"
    assert [w["pid"] for w in tier_workers(topology, "tier1")] == tier1_before, "tier 1's workers changed"
    assert ask(topology, "tier1", "Olá!") == 200


def test_sigterm_to_the_api_lets_an_open_stream_finish_then_exits(topology: Gateway) -> None:
    body = {"model": "tier2", "stream": True, "metadata": ORG,
            "messages": [{"role": "user", "content": "[sim tokens=20 token_delay_ms=150] conta uma história"}]}
    lines: list[str] = []
    opened = threading.Event()

    def stream() -> None:
        with httpx.stream("POST", f"{topology.ai_url}/chat/completions", json=body, headers=topology.headers(),
                          timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    lines.append(line)
                    opened.set()

    thread = threading.Thread(target=stream)
    thread.start()
    assert opened.wait(15), "the stream never started"
    api = topology.processes["api"]
    api.send_signal(signal.SIGTERM)

    def refused() -> bool:
        try:
            httpx.get(f"{topology.base_url}/health/liveness", timeout=3)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):  # refused or reset
            return True
        return False

    # With several API processes, uvicorn's supervisor reads its signals every 0.5 s and then stops the
    # processes, which stop accepting at their next 0.1 s tick: within about 0.7 s, whatever the load.
    poll(refused, "the stopping API still accepted a new connection 1.5 s after SIGTERM", seconds=1.5)
    thread.join(30)
    assert lines[-1] == "data: [DONE]", f"the open stream was cut: {lines[-3:]}"
    content = [line for line in lines if '"content"' in line]
    assert len(content) >= 20, f"only {len(content)} content chunks of 20 arrived"
    assert api.wait(30) == 0, "the API did not exit after its stream ended"
