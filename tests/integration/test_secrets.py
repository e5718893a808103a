"""Secrets stay secret: `tiergate up` never prints an operator's key in full, /metrics can need a token, and
organization ids can be kept out of the metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.local_redis import free_port
from tests.harness import ROOT, Gateway, RedisProcess, ensure_redis_server
from tests.integration.gateway_state import assert_openai_error
from tests.integration.test_up import _read_until

pytestmark = pytest.mark.integration

OPERATOR_KEY = "sk-operator-7f3a9c2e5b8d1234"
METRICS_TOKEN = "scrape-token-0f9e8d7c"


def test_up_never_prints_the_operators_key_in_full(tmp_path: Path) -> None:
    ensure_redis_server()
    port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LITELLM_MASTER_KEY=OPERATOR_KEY, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--port", str(port), "--sim-port",
                                str(sim_port), "--concurrency", "5"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = _read_until(process, r"Ctrl-C stops everything", 90)
        answer = httpx.post(f"http://127.0.0.1:{port}/ai/chat/completions", timeout=30,
                            headers={"authorization": f"Bearer {OPERATOR_KEY}"},
                            json={"messages": [{"role": "user", "content": "Olá!"}]})
        assert answer.status_code == 200, "the key printed as sk-…1234 must still be the one that works"
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    output = banner + rest
    assert OPERATOR_KEY not in output and OPERATOR_KEY[3:] not in output, output[-2000:]
    assert "master key: sk-…1234" in banner, banner


@pytest.fixture(scope="module")
def guarded(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    overrides = {"metrics": {"bearer_token": "os.environ/TIERGATE_METRICS_TOKEN", "organization_label": False}}
    os.environ["TIERGATE_METRICS_TOKEN"] = METRICS_TOKEN  # the config reads it, as an operator's would
    try:
        running = Gateway(Path(tmp_path_factory.mktemp("secrets")), own_redis, config_overrides=overrides)
        running.start()
    finally:
        del os.environ["TIERGATE_METRICS_TOKEN"]
    yield running
    running.stop()


def test_metrics_need_the_configured_bearer_token(guarded: Gateway) -> None:
    url = f"{guarded.base_url}/metrics"
    for headers in ({}, {"authorization": "Bearer wrong"}, guarded.headers()):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 401, refused.text[:200]
        assert_openai_error(refused)
    allowed = httpx.get(url, headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200 and "llm_live_workers" in allowed.text, \
        f"got {allowed.status_code}: {allowed.text[:500]}"


def test_with_the_organization_label_off_no_organization_id_reaches_the_metrics(guarded: Gateway) -> None:
    body = {"messages": [{"role": "user", "content": "Olá!"}], "metadata": {"organization_id": "org_secret_name"}}
    answer = httpx.post(f"{guarded.ai_url}/chat/completions", json=body, headers=guarded.headers(), timeout=30)
    assert answer.status_code == 200, f"expected 200, got {answer.status_code}: {answer.text[:500]}"
    scrape = {"authorization": f"Bearer {METRICS_TOKEN}"}
    deadline = time.monotonic() + 10
    cost_lines: list[str] = []
    while not cost_lines and time.monotonic() < deadline:  # the worker counts the cost just after it answers
        text = httpx.get(f"{guarded.base_url}/metrics", headers=scrape).text
        cost_lines = [line for line in text.splitlines() if line.startswith("llm_cost_total{")]
        time.sleep(0.05)
    assert cost_lines and all('organization="all"' in line for line in cost_lines), cost_lines
    assert "org_secret_name" not in text
