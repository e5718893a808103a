"""One structured line per request in the process logs; provider failures and fallbacks carry the request id;
the prompt's text is never logged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.harness import MASTER_KEY, Gateway, RedisProcess

pytestmark = pytest.mark.integration

SECRET = "contrato-sigiloso-7731"  # in every prompt: it must appear in no log line


def _json_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in log.read_text().splitlines():
        if raw.startswith("{"):
            lines.append(orjson.loads(raw))
    return lines


def _wait_for_line(log: Path, request_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = _json_lines(log)
        if any(line.get("logger") == "tiergate.requests" and line.get("request_id") == request_id for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no request line for {request_id} in:\n{log.read_text()[-3000:]}")


def test_json_logs_one_line_per_request_with_its_facts_and_fallbacks_by_request_id(
        own_redis: RedisProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERGATE_LOG_FORMAT", "json")  # what --log-format json sets, for every role
    gw = Gateway(tmp_path, own_redis).start()
    try:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        models = httpx.get(f"{gw.ai_url}/models", headers=headers, timeout=10).json()["data"]
        llama = next(m["provider_model"] for m in models if m["id"] == "tier1/llama-3.2-3b")

        def chat(text: str, **extra: Any) -> httpx.Response:
            body = {"model": "auto", "messages": [{"role": "user", "content": f"{text} {SECRET}"}],
                    "metadata": {"organization_id": "org_123"}, **extra}
            return httpx.post(f"{gw.ai_url}/chat/completions", headers=headers, json=body, timeout=30)

        sync = chat("Olá, tudo bem?")
        streamed = chat("Olá, tudo bem?", stream=True)
        fallback = chat(f"Olá [sim fail=500 models={llama}]", model="tier1")
        refused = httpx.post(f"{gw.ai_url}/chat/completions", headers=headers, json={"messages": []}, timeout=10)
        assert (sync.status_code, streamed.status_code, fallback.status_code, refused.status_code) == (200, 200,
                                                                                                      200, 400)
        assert fallback.headers["x-gateway-model"] == "tier1/gemini-flash"
        lines = _wait_for_line(gw.log, refused.headers["x-request-id"])
    finally:
        gw.stop()

    requests = {line["request_id"]: line for line in lines if line.get("logger") == "tiergate.requests"}
    one = requests[sync.headers["x-request-id"]]
    assert one["organization"] == "org_123" and one["status"] == 200 and one["tier"] == sync.headers["x-gateway-tier"]
    assert one["model"] == sync.headers["x-gateway-model"] and one["cache"] == "MISS"
    assert one["route_reasons"] == sync.headers["x-gateway-route-reason"]
    assert one["cost_usd"] == pytest.approx(float(sync.headers["x-gateway-cost-usd"]))
    assert one["latency_ms"] > 0
    stream = requests[streamed.headers["x-request-id"]]
    assert stream["status"] == 200 and stream["ttft_ms"] > 0 and stream["cost_usd"] > 0
    assert requests[refused.headers["x-request-id"]]["status"] == 400
    assert requests[refused.headers["x-request-id"]]["error"] == refused.json()["error"]["code"]
    fallback_id = fallback.headers["x-request-id"]
    worker_lines = [line for line in lines
                    if line.get("request_id") == fallback_id and line["logger"] != "tiergate.requests"]
    assert any(line.get("error") == "server" and line["model"] == "tier1/llama-3.2-3b" for line in worker_lines), lines
    assert any(line.get("fallback") for line in worker_lines), worker_lines
    assert SECRET not in gw.log.read_text(), "a prompt's text reached the logs"
