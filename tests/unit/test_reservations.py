"""The arithmetic of reservations and limits: what a request may cost at most, overrides, usage fields, key names."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from api.ratelimit import budget_refusal
from api.tenancy import effective_policy
from common import keys
from common.budget import (
    DEFAULT_OUTPUT_LIMIT,
    PROMPT_MARGIN,
    asked_completion_tokens,
    completion_allowance,
    format_usd,
    left_usd,
    reservation_for,
    reservation_member,
)
from common.usage import NANO
from config.settings import Organization, Plan


@dataclass(frozen=True)
class Model:
    input_cost_per_token: float
    output_cost_per_token: float
    max_output_tokens: int | None = None


OPUS = Model(0.000015, 0.000075, 4096)
TURBO = Model(0.00001, 0.00003, 4096)
HAIKU = Model(0.00000025, 0.00000125)
SHORT = Model(0.000001, 0.000002, 256)


def test_the_completion_allowance_is_what_was_asked_within_the_models_output_limit() -> None:
    assert asked_completion_tokens({"max_tokens": 100}) == 100
    assert asked_completion_tokens({"max_completion_tokens": 50, "max_tokens": 100}) == 50
    assert asked_completion_tokens({}) is None
    assert completion_allowance(100, OPUS) == 100
    assert completion_allowance(None, OPUS) == 4096
    assert completion_allowance(None, HAIKU) == DEFAULT_OUTPUT_LIMIT
    assert completion_allowance(1000, SHORT) == 256


def test_a_reservation_is_the_prompt_and_allowance_at_the_dearest_model_of_the_chain() -> None:
    prompt = math.ceil(20 * PROMPT_MARGIN)
    reserved = reservation_for(20, 100, [TURBO, OPUS, HAIKU])
    assert reserved.tokens == prompt + 100
    assert reserved.cost_nusd == round((prompt * OPUS.input_cost_per_token + 100 * OPUS.output_cost_per_token) * NANO)
    assert reservation_for(20, 100, [HAIKU, OPUS]) == reservation_for(20, 100, [OPUS, HAIKU]), "order is irrelevant"


def test_each_model_of_the_chain_is_held_to_its_own_output_limit() -> None:
    """A cheap model with a long allowance may cost more than a dear one with a short one, and use more tokens."""
    reserved = reservation_for(10, None, [SHORT, HAIKU])
    prompt = math.ceil(10 * PROMPT_MARGIN)
    assert reserved.tokens == prompt + DEFAULT_OUTPUT_LIMIT
    haiku = prompt * HAIKU.input_cost_per_token + DEFAULT_OUTPUT_LIMIT * HAIKU.output_cost_per_token
    short = prompt * SHORT.input_cost_per_token + 256 * SHORT.output_cost_per_token
    assert reserved.cost_nusd == math.ceil(round(max(haiku, short) * NANO, 3))


def test_a_reservation_never_falls_short_of_the_cost_of_the_usage_it_allows() -> None:
    from common.pricing import usage_cost

    for prompt in (1, 7, 33, 1000):
        for asked in (1, 17, 100, None):
            reserved = reservation_for(prompt, asked, [OPUS, HAIKU, SHORT])
            for model in (OPUS, HAIKU, SHORT):
                usage = {"prompt_tokens": prompt, "completion_tokens": completion_allowance(asked, model)}
                cost = usage_cost(usage, model.input_cost_per_token, model.output_cost_per_token)
                assert round(cost * NANO) <= reserved.cost_nusd, (prompt, asked, model)


def test_free_models_reserve_tokens_but_no_money() -> None:
    free = Model(0.0, 0.0)
    assert reservation_for(10, 50, [free]).cost_nusd == 0
    assert reservation_for(10, 50, [free]).tokens == math.ceil(10 * PROMPT_MARGIN) + 50


def test_the_member_names_the_amount_so_an_expired_reservation_gives_it_back_unaided() -> None:
    assert reservation_member("abc", 7815000) == "7815000:abc"


def test_what_is_left_counts_spend_and_outstanding_reservations() -> None:
    assert left_usd(10 * NANO, 4 * NANO, 3 * NANO) == 3.0
    assert left_usd(10 * NANO, 9 * NANO, 3 * NANO) == 0.0


def test_the_402_message_says_how_much_is_left_and_what_the_request_needed() -> None:
    message = budget_refusal("org", 25_000_000, 23_000_000, 500_000, 7_755_000)
    assert "has $0.0015 left of its monthly budget of $0.025" in message
    assert "$0.0005 of it held by requests in flight" in message
    assert "may cost up to $0.007755" in message
    assert "spent its monthly budget of $0.025" in budget_refusal("org", 25_000_000, 25_000_000, 0, 1)


@pytest.mark.parametrize(("amount", "shown"), [(12.5, "$12.50"), (0.025, "$0.025"), (0.0017345, "$0.001734"),
                                              (0, "$0.00"), (1234.5, "$1,234.50")])
def test_dollars_show_as_many_digits_as_the_amount_needs(amount: float, shown: str) -> None:
    assert format_usd(amount) == shown


FREE = Plan(max_tier=2, rpm=20, tpm=20000, max_concurrent=2, monthly_budget_usd=5)


def test_every_limit_an_organization_overrides_is_the_limit_in_force() -> None:
    policy = effective_policy("o", "free", FREE, Organization(plan="free", max_tier=4, rpm=100,
                                                                  monthly_budget_usd=50, budget_soft_ratio=0.5))
    assert (policy.max_tier, policy.rpm, policy.tpm, policy.monthly_budget_usd) == (4, 100, 20000, 50)
    assert policy.budget_soft_ratio == 0.5 and policy.budget_soft_max_tier == 3
    plain = effective_policy("o", "free", FREE, None)
    assert (plain.max_tier, plain.rpm, plain.budget_soft_max_tier) == (2, 20, 1)


def test_the_soft_budget_tier_never_exceeds_a_lowered_max_tier() -> None:
    policy = effective_policy("o", "pro", Plan(max_tier=4, budget_soft_max_tier=3),
                              Organization(plan="pro", max_tier=1))
    assert policy.max_tier == 1 and policy.budget_soft_max_tier == 1


def test_ids_in_key_names_cannot_reach_into_another_organizations_keys() -> None:
    assert keys.rate_window("a:user:b", "req", 1) != keys.user_rate_window("a", "b:req", 1)
    assert keys.conversation_tier("a:b", "c") != keys.conversation_tier("a", "b:c")
    assert keys.reservations("x:total") != keys.reserved_total("x")
    assert keys.spend("org_123", "2026-12") == "tiergate:spend:org_123:2026-12", "plain ids keep their key names"


def test_n_answers_reserve_n_times_the_most_one_answer_can_take() -> None:
    one = reservation_for(20, 100, [TURBO, OPUS, HAIKU])
    three = reservation_for(20, 100, [TURBO, OPUS, HAIKU], answers=3)
    assert (three.tokens, three.cost_nusd) == (3 * one.tokens, 3 * one.cost_nusd)
