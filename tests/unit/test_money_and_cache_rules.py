"""Pure rules behind money, audit and cache: redaction, budget thresholds, usage counters, cache control."""

from __future__ import annotations

import datetime as dt

import pytest

from api.usage import summarize
from common.budget import crossed_levels
from common.cache import CacheControl, cache_key
from common.errors import GatewayError
from common.redaction import redact
from common.usage import NANO, UsageEntry


@pytest.mark.parametrize(("text", "expected"), [
    ("meu cpf é 123.456.789-09", "meu cpf é [CPF]"),
    ("cpf 12345678909 ok", "cpf [CPF] ok"),
    ("cnpj 12.345.678/0001-95", "cnpj [CNPJ]"),  # check digits decide: .../0001-90 is no CNPJ
    ("escreve pra maria.souza+vendas@empresa.com.br", "escreve pra [EMAIL]"),
    ("liga (11) 98765-4321", "liga [PHONE]"),
    ("whats +55 11 91234-5678", "whats [PHONE]"),
    ("cartão 4111 1111 1111 1111 validade 12/29", "cartão [CARD] validade 12/29"),
    ("quero 3 unidades por R$ 1.500 até 2025", "quero 3 unidades por R$ 1.500 até 2025"),
])
def test_personal_data_is_masked_and_ordinary_numbers_are_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_each_budget_threshold_is_crossed_once_by_the_request_that_passes_it() -> None:
    budget = 10.0
    assert crossed_levels(int(7.9 * NANO), int(8.1 * NANO), budget, 0.8) == ["soft"]
    assert crossed_levels(int(8.1 * NANO), int(9.0 * NANO), budget, 0.8) == []
    assert crossed_levels(int(9.9 * NANO), int(10.0 * NANO), budget, 0.8) == ["hard"]
    assert crossed_levels(int(7.0 * NANO), int(11.0 * NANO), budget, 0.8) == ["soft", "hard"]
    assert crossed_levels(0, int(50 * NANO), None, 0.8) == []


def _entry(**changes: object) -> UsageEntry:
    fields = {"request_id": "r", "organization_id": "org", "tier": "tier2", "model": "tier2/claude-haiku",
              "user_id": "u1", "prompt_tokens": 10, "completion_tokens": 20, "cost_usd": 0.000027,
              "cache_hit": False, "error": False, "time": 1_700_000_000.0}
    return UsageEntry(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_ledger_row_carries_the_usage_and_the_key_status_and_latency_of_the_audit_record() -> None:
    row = _entry(error=True).ledger_usage({"key_id": "key_1", "status": 503, "latency_ms": 41.5})
    assert row["cost_nusd"] == 27_000 and row["prompt_tokens"] == 10 and row["completion_tokens"] == 20
    assert (row["key_id"], row["status"], row["latency_ms"]) == ("key_1", 503, 41.5)
    assert row["tier"] == "tier2" and row["model"] == "tier2/claude-haiku" and row["user_id"] == "u1"


def test_summarize_lists_every_day_totals_the_days_and_converts_cost_back_to_usd() -> None:
    day = {"requests": 1, "prompt_tokens": 10, "completion_tokens": 20, "cost_nusd": 27_000, "cache_hits": 0,
           "errors": 0}
    report = {"by_day": {"2024-01-01": day, "2024-01-03": {**day, "errors": 1}},
              "by_tier": {"tier3": day, "tier2": day}, "by_model": {}, "by_user": {"u1": day},
              "by_organization": {"org": day}}
    summary = summarize(dt.date(2024, 1, 1), dt.date(2024, 1, 3), report)
    assert summary["totals"]["requests"] == 2 and summary["totals"]["errors"] == 1
    assert summary["totals"]["cost_usd"] == pytest.approx(0.000054)
    assert summary["totals"]["total_tokens"] == 60
    assert [(d["date"], d["requests"]) for d in summary["by_day"]] == [
        ("2024-01-01", 1), ("2024-01-02", 0), ("2024-01-03", 1)]
    assert list(summary["by_tier"]) == ["tier2", "tier3"] and set(summary["by_user"]) == {"u1"}


def test_cache_is_used_by_default_only_for_repeatable_requests() -> None:
    assert CacheControl.from_request(None, 0, True, 600) == CacheControl(True, True, 600)
    assert not CacheControl.from_request(None, 0.7, True, 600).used
    assert CacheControl.from_request({"ttl": 30}, 0.7, True, 600) == CacheControl(True, True, 30)
    assert CacheControl.from_request({"no-cache": True}, 0, True, 600) == CacheControl(False, True, 600)
    assert CacheControl.from_request({"no-store": True}, 0, True, 600) == CacheControl(True, False, 600)
    assert not CacheControl.from_request({"ttl": 30}, 0, False, 600).used


@pytest.mark.parametrize("control", ["yes", {"ttl": 0}, {"ttl": "10"}, {"ttl": True}])
def test_a_bad_cache_control_is_a_400_naming_the_field(control: object) -> None:
    with pytest.raises(GatewayError) as caught:
        CacheControl.from_request(control, 0, True, 600)
    assert caught.value.status == 400 and caught.value.param in ("cache", "cache.ttl")


def test_the_cache_key_separates_organizations_and_output_changing_parameters_only() -> None:
    body = {"messages": [{"role": "user", "content": "oi"}], "temperature": 0}
    base = cache_key("org_a", "tier1", "tier1/llama-3.2-3b", body)
    assert cache_key("org_b", "tier1", "tier1/llama-3.2-3b", body) != base
    assert cache_key("org_a", "tier1", "tier1/llama-3.2-3b", {**body, "max_tokens": 5}) != base
    assert cache_key("org_a", "tier1", "tier1/llama-3.2-3b", {**body, "stream": True, "user": "x"}) == base
