"""What a refused request must leave as it was, read the way an operator would: rate-limit windows and
concurrency slots in Redis, usage from /ai/usage, the active gauge from /metrics."""

from __future__ import annotations

from typing import Any

import httpx

from common import keys
from tests.harness import Gateway


def assert_openai_error(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error body, with an x-request-id on the answer; returns the `error` object."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    assert len(response.headers.get("x-request-id", "")) >= 16, f"no x-request-id: {response.headers}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("message"), str) and error["message"], error
    assert isinstance(error.get("type"), str) and error["type"], error
    assert "code" in error and "param" in error, error
    return error


def active_gauge(gateway: Gateway) -> float:
    text = httpx.get(f"{gateway.base_url}/metrics", headers=gateway.headers(), timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("llm_active_requests{"))


def rate_state(gateway: Gateway, organization_id: str) -> dict[str, Any]:
    """Every rate-limit counter of the organization (windows, per-user windows) and its concurrency slots."""
    client = gateway.redis.client()
    slots_key = keys.concurrency(organization_id)
    found: dict[str, Any] = {}
    for key in client.scan_iter(match=slots_key.rsplit(":", 1)[0] + ":*", count=1000):
        name = key.decode()
        found[name] = client.zcard(name) if name == slots_key else client.get(name)
    return found


def org_state(gateway: Gateway, organization_id: str) -> dict[str, Any]:
    gateway.wait_recorded()  # usage is read from the ledger, which lags the answers by a moment
    usage = httpx.get(f"{gateway.ai_url}/usage", params={"organization_id": organization_id},
                      headers=gateway.headers(), timeout=10).json()
    rates = rate_state(gateway, organization_id)
    return {"usage": usage, "rates": rates, "slots": rates.get(keys.concurrency(organization_id), 0),
            "active_gauge": active_gauge(gateway)}


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Usage, the active gauge and the rate state as they were (see assert_rates_unchanged)."""
    assert after["usage"] == before["usage"], "usage changed"
    assert after["active_gauge"] == before["active_gauge"], "llm_active_requests changed"
    assert_rates_unchanged(before["rates"], after["rates"])


def assert_rates_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Equal, but for rate windows that expired in between (a window lives two minutes) and token windows that
    shrank (an earlier request's token reservation settling to what it used): a refusal takes nothing."""
    for key, value in after.items():
        was = before.get(key)
        if ":tok:" in key and was is not None and int(value) <= int(was):
            continue
        assert was == value, f"{key}: {was!r} -> {value!r}"
