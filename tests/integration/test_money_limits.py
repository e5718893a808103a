"""Money and token limits under concurrency, plan overrides and usage keys, over two API processes.

Prices are the seed's (config/litellm_config.yaml). A request pinned to tier4/claude-opus with max_tokens 100 and a
short prompt reserves about $0.0078 (its prompt at $15/M, 100 tokens at $75/M) and costs about $0.0078, so a
budget of $0.025 fits three of them and not four.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Gateway, RedisProcess, away_from_minute_boundary, poll

pytestmark = pytest.mark.integration

BUDGET_USD = 0.025
TOKENS_PER_MINUTE = 1000
OVERRIDES: dict[str, Any] = {
    "plans": {
        "metered": {"max_tier": 4, "monthly_budget_usd": BUDGET_USD, "budget_soft_ratio": 0.99},
        "metered_tokens": {"max_tier": 2, "tpm": TOKENS_PER_MINUTE},
        "counted": {"max_tier": 2, "rpm": 3, "tpm": 100_000},
    },
    "organizations": {"org_fits3": {"plan": "metered"}, "org_tpm": {"plan": "metered_tokens"},
                      "org_counted": {"plan": "counted"}, "org_ids": {"plan": "pro"},
                      "org_endings": {"plan": "metered"},
                      "org_free_raised": {"plan": "free", "max_tier": 4}},
    "default_plan": None,
}


@pytest.fixture(scope="module")
def gw(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = Gateway(Path(tmp_path_factory.mktemp("money")), own_redis, config_overrides=OVERRIDES,
                      api_processes=2).start()
    yield running
    running.stop()


def _chat(gw: Gateway, body: dict[str, Any], organization_id: str) -> httpx.Response:
    body = {**body, "metadata": {**body.get("metadata", {}), "organization_id": organization_id}}
    return httpx.post(f"{gw.ai_url}/chat/completions", json=body, headers=gw.headers(), timeout=60)


def _burst(gw: Gateway, body: dict[str, Any], organization_id: str, count: int = 20) -> list[httpx.Response]:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: _chat(gw, body, organization_id), range(count)))


def _settled(gw: Gateway, organization_id: str, requests: int) -> dict[str, Any]:
    """Usage once `requests` requests are counted and no reservation is outstanding (workers count after answering)."""
    def settled() -> dict[str, Any] | None:
        usage = gw.usage(organization_id=organization_id)
        done = usage["totals"]["requests"] >= requests and gw.organization(organization_id)["reserved_usd"] == 0
        return usage if done else None

    return poll(settled, lambda: f"{organization_id}: {requests} requests not settled within 15 s: "
                                 f"{gw.usage(organization_id=organization_id)['totals']}", seconds=15, interval=0.2)


def test_twenty_concurrent_requests_against_a_budget_that_fits_three_spend_at_most_the_budget(gw: Gateway) -> None:
    body = {"model": "tier4/claude-opus", "max_tokens": 100,
            "messages": [{"role": "user", "content": "[sim ttft_ms=300 tokens=100] proposta"}]}
    responses = _burst(gw, body, "org_fits3")
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 3 and statuses.count(402) == 17, statuses
    refused = next(r for r in responses if r.status_code == 402)
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and "monthly budget of $0.025" in error["message"], error
    usage = _settled(gw, "org_fits3", 3)
    assert usage["totals"]["requests"] == 3
    assert usage["totals"]["cost_usd"] <= BUDGET_USD
    charged = sum(float(r.headers["x-gateway-cost-usd"]) for r in responses if r.status_code == 200)
    assert usage["totals"]["cost_usd"] == pytest.approx(charged, abs=1e-9)
    assert charged > BUDGET_USD * 0.9, "the three answered requests should use most of the budget"


def test_the_402_says_how_much_is_left_and_a_request_that_fits_still_passes(gw: Gateway) -> None:
    """After the burst above, about $0.0017 is left: a big request is refused, a small one fits."""
    big = _chat(gw, {"model": "tier4/claude-opus", "max_tokens": 100,
                     "messages": [{"role": "user", "content": "[sim tokens=100] proposta"}]}, "org_fits3")
    assert big.status_code == 402, f"expected 402, got {big.status_code}: {big.text[:500]}"
    message = big.json()["error"]["message"]
    left = re.search(r"has \$([0-9.]+) left", message)
    assert left, message
    spent = gw.usage(organization_id="org_fits3")["totals"]["cost_usd"]
    assert float(left.group(1)) == pytest.approx(BUDGET_USD - spent, abs=1e-6)
    assert re.search(r"may cost up to \$0\.007[5-9]", message), message
    small = _chat(gw, {"model": "tier4/claude-opus", "max_tokens": 5,
                       "messages": [{"role": "user", "content": "[sim tokens=5] ok"}]}, "org_fits3")
    assert small.status_code == 200, small.text
    assert _settled(gw, "org_fits3", 4)["totals"]["cost_usd"] <= BUDGET_USD


def test_without_max_tokens_the_model_output_limit_is_reserved(gw: Gateway) -> None:
    """4,096 tokens at Opus's $75/M is $0.31, more than the whole budget: refused before any call."""
    response = _chat(gw, {"model": "tier4/claude-opus", "messages": [{"role": "user", "content": "oi"}]},
                     "org_fits3")
    assert response.status_code == 402, f"expected 402, got {response.status_code}: {response.text[:500]}"
    assert "set a lower max_tokens" in response.json()["error"]["message"]


def test_twenty_concurrent_requests_take_the_tokens_window_past_its_limit_by_at_most_one_allowance(
        gw: Gateway) -> None:
    away_from_minute_boundary()
    body = {"model": "tier2", "max_tokens": 100,
            "messages": [{"role": "user", "content": "[sim ttft_ms=300 tokens=100] me fala do produto"}]}
    allowance = 100 + 30  # the completion allowance and a generous prompt
    responses = _burst(gw, body, "org_tpm")
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) == {200, 429}, statuses
    usage = _settled(gw, "org_tpm", statuses.count(200))
    assert usage["totals"]["total_tokens"] <= TOKENS_PER_MINUTE + allowance, usage["totals"]
    assert statuses.count(200) >= TOKENS_PER_MINUTE // allowance - 1, statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["x-ratelimit-remaining-tokens"]) < allowance, dict(refused.headers)
    assert "tokens per minute" in refused.json()["error"]["message"]


def test_a_429_for_requests_reports_the_tokens_really_left(gw: Gateway) -> None:
    away_from_minute_boundary()
    body = {"max_tokens": 50, "messages": [{"role": "user", "content": "[sim tokens=50] oi"}]}
    assert [_chat(gw, body, "org_counted").status_code for _ in range(3)] == [200, 200, 200]
    used = _settled(gw, "org_counted", 3)["totals"]["total_tokens"]
    refused = _chat(gw, body, "org_counted")
    assert refused.status_code == 429, f"expected 429, got {refused.status_code}: {refused.text[:500]}"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-remaining-tokens"] == str(100_000 - used), "not what the window has left"


def _admin_create(gw: Gateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gw.ai_url}/admin/organizations", json=body, headers=gw.headers(), timeout=10)


NEGOTIATION = {"max_tokens": 20, "messages": [{"role": "user", "content": "[sim tokens=5] quero negociar o contrato"}],
               "metadata": {"intent": "negotiation"}}


def test_a_raised_max_tier_lets_pinned_and_auto_routed_requests_reach_it(gw: Gateway) -> None:
    assert _admin_create(gw, {"organization_id": "org_raised", "plan": "free", "max_tier": 4}).status_code == 201
    for org in ("org_raised", "org_free_raised"):
        pinned = _chat(gw, {"model": "tier4", "max_tokens": 20, "messages": [{"role": "user", "content": "oi"}]}, org)
        assert pinned.status_code == 200 and pinned.headers["x-gateway-tier"] == "tier4", (org, pinned.text)
        auto = _chat(gw, NEGOTIATION, org)
        assert auto.status_code == 200 and auto.headers["x-gateway-tier"] == "tier4", (org, auto.headers)
        assert gw.organization(org)["limits"]["max_tier"] == 4


def test_a_lowered_max_tier_holds_pinned_and_auto_routed_requests_below_it(gw: Gateway) -> None:
    assert _admin_create(gw, {"organization_id": "org_lowered", "plan": "pro", "max_tier": 1}).status_code == 201
    pinned = _chat(gw, {"model": "tier2", "messages": [{"role": "user", "content": "oi"}]}, "org_lowered")
    assert pinned.status_code == 403, pinned.text
    assert pinned.headers["x-ratelimit-limit-requests"] == "600", "a refusal before admission carries the headers too"
    assert int(pinned.headers["x-ratelimit-remaining-requests"]) <= 600
    auto = _chat(gw, NEGOTIATION, "org_lowered")
    assert auto.status_code == 200 and auto.headers["x-gateway-tier"] == "tier1", auto.headers
    limits = gw.organization("org_lowered")["limits"]
    assert limits["max_tier"] == 1 and limits["budget_soft_max_tier"] == 1 and limits["rpm"] == 600


@pytest.mark.parametrize(("field", "value"), [("max_tier", 7), ("rpm", 0), ("budget_soft_ratio", 2),
                                              ("max_teir", 3), ("monthly_budget_usd", "lots")])
def test_a_bad_override_is_a_400_naming_the_field_and_creates_nothing(gw: Gateway, field: str, value: Any) -> None:
    response = _admin_create(gw, {"organization_id": "org_bad_override", "plan": "free", field: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert field in response.json()["error"]["message"]
    listed = httpx.get(f"{gw.ai_url}/admin/organizations", headers=gw.headers(), timeout=10).json()["data"]
    assert "org_bad_override" not in {item["organization_id"] for item in listed}


USER_IDS = ["alice", "alice|requests", "alice|cost_nusd", "alice|requests|x", 'o"brien', "o'brien", "a:b", "a%7Cb",
            "ação 😀", "😀|😀", "total", "|"]


def test_user_and_conversation_ids_with_separators_quotes_and_emoji_stay_separate_in_usage(gw: Gateway) -> None:
    for user in USER_IDS:
        response = _chat(gw, {"messages": [{"role": "user", "content": "[sim tokens=3] oi"}],
                              "metadata": {"user_id": user, "conversation_id": user + "|c"}}, "org_ids")
        assert response.status_code == 200, (user, response.text)
    usage = _settled(gw, "org_ids", len(USER_IDS))
    assert set(usage["by_user"]) == set(USER_IDS)
    assert all(figures["requests"] == 1 for figures in usage["by_user"].values()), usage["by_user"]
    totals = usage["totals"]
    for breakdown in ("by_user", "by_tier", "by_model"):
        for metric in ("requests", "prompt_tokens", "completion_tokens", "cost_usd"):
            summed = sum(figures[metric] for figures in usage[breakdown].values())
            assert summed == pytest.approx(totals[metric], abs=1e-9), (breakdown, metric)
    assert totals["requests"] == len(USER_IDS)


def test_cancelled_and_failed_requests_give_their_reservations_back(gw: Gateway) -> None:
    """Last in the module: the failures put the tier's models in cooldown."""
    body = {"model": "tier4/claude-opus", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "[sim token_delay_ms=100 tokens=100] longa história"}]}
    body["metadata"] = {"organization_id": "org_endings"}
    with httpx.stream("POST", f"{gw.ai_url}/chat/completions", json=body, headers=gw.headers(), timeout=30) as resp:
        assert resp.status_code == 200, f"expected 200, got {resp.status_code}: {resp.read()[:500]!r}"
        for seen, _ in enumerate(line for line in resp.iter_lines() if line.startswith("data: {")):
            if seen == 5:
                break
    cancelled = _settled(gw, "org_endings", 1)["totals"]
    assert 0 < cancelled["cost_usd"] < 0.0077, "a cancelled stream is billed what it relayed, not its reservation"
    failing = {"model": "tier4", "max_tokens": 100,
               "messages": [{"role": "user", "content": "[sim fail=503 fail_times=50] proposta"}]}
    failed = _chat(gw, failing, "org_endings")
    assert failed.status_code >= 500, failed.text
    usage = _settled(gw, "org_endings", 2)
    assert usage["totals"]["cost_usd"] == pytest.approx(cancelled["cost_usd"], abs=1e-9), "a failure cost money"
    assert gw.organization("org_endings")["reserved_usd"] == 0
