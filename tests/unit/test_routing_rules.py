"""The rules around the natural tier: reasons, plan cap, customer value, stickiness, pinned models, the chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.routing_commands import build_router
from config import load_settings
from routing import Router, RouteRequest, RoutingError
from routing.settings import parse_routing_settings
from routing.stickiness import sticky_floor

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml"
SETTINGS = load_settings(DEFAULT)
ROUTER: Router = build_router(SETTINGS)
#: `routing.scorer.model: off`: intent keywords and complexity alone.
RULES: Router = build_router(SETTINGS, routing={**SETTINGS.routing, "scorer": {"model": "off"}})
NEGOTIATION = [{"role": "user", "content": "Consegue fazer um desconto se eu fechar o plano anual?"},
               {"role": "assistant", "content": "Consigo 10% no anual."}]


def decide(text: str, metadata: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None,
           router: Router = ROUTER, **fields: Any) -> Any:
    messages = [*(history or []), {"role": "user", "content": text}]
    return router.decide(RouteRequest(messages, metadata or {}, **fields))


# --- reasons -------------------------------------------------------------------------------------------------


def test_every_decision_says_what_the_scorer_saw_and_which_rule_set_the_tier() -> None:
    decision = decide("Consegue fazer um desconto se eu levar 3?")
    assert decision.reasons[0].startswith("scorer -> tier4 (p "), decision.reasons
    assert "counter-offer" in decision.reasons[0] and "kw:negotiation" in decision.reasons[0]
    assert decision.reasons[1].startswith("complexity ")
    assert decision.reasons[2] == "counter-offer or price-lowering request: at least tier4"
    assert decision.intent == "negotiation"
    assert decision.to_dict()["reasons"] == list(decision.reasons)


def test_a_scorer_turn_names_the_amounts_and_quantities_it_read() -> None:
    reason = decide("somos uma rede com 14 lojas e queremos cotar para todas").reasons[0]
    assert "quantity 14 lojas" in reason, reason
    reason = decide("tengo US$ 450k para invertir en un departamento").reasons[0]
    assert "amount us$ 450k" in reason, reason


def test_a_large_amount_holds_the_turn_at_tier4_and_says_so() -> None:
    decision = decide("orçamento de 1,8 mi, quero algo entre 36 e 40 pés, zero ou seminova. oq vcs tem?")
    assert decision.tier == "tier4", decision.reasons
    assert "an amount of 300,000 or more: at least tier4" in decision.reasons


def test_under_the_keyword_rules_every_decision_says_which_intent_set_the_tier() -> None:
    decision = decide("Consegue fazer um desconto se eu levar 3?", router=RULES)
    assert decision.reasons[0].startswith("intent negotiation (detected: ")
    assert decision.reasons[0].endswith("-> tier4")
    assert decision.reasons[1].startswith("complexity ")
    assert decision.intent == "negotiation"
    assert decision.to_dict()["reasons"] == list(decision.reasons)


def test_a_metadata_intent_is_named_as_such_in_the_reason() -> None:
    assert decide("oi", {"intent": "support"}).reasons[0] == "intent support (metadata) -> tier2"


def test_the_reason_text_joins_the_reasons_for_the_header() -> None:
    decision = decide("bom dia")
    assert decision.reason_text() == "; ".join(decision.reasons)
    assert decision.reason_text().isascii()


# --- plan cap ------------------------------------------------------------------------------------------------


def test_the_plan_caps_the_tier_and_says_so() -> None:
    decision = decide("Consegue um desconto se eu fechar hoje?", plan_max_tier=2, plan_name="free")
    assert decision.tier == "tier2"
    assert decision.reasons[-1] == "plan free caps tier4 to tier2"


def test_the_capped_chain_never_holds_a_model_above_the_plan() -> None:
    decision = decide("Consegue um desconto se eu fechar hoje?", plan_max_tier=3)
    assert decision.tier == "tier3"
    assert all(not name.startswith("tier4/") for name in decision.models), decision.models


def test_a_tier_within_the_plan_is_not_capped_and_no_cap_reason_is_given() -> None:
    decision = decide("bom dia", plan_max_tier=2, plan_name="free")
    assert decision.tier == "tier1"
    assert not any("caps" in reason for reason in decision.reasons)


def test_a_vip_on_a_small_plan_is_capped_too() -> None:
    decision = decide("oi", {"customer_tier": "vip"}, plan_max_tier=2)
    assert decision.tier == "tier2"
    assert "VIP customer (customer_tier=vip): at least tier3" in decision.reasons
    assert decision.reasons[-1] == "plan caps tier3 to tier2"


# --- customer value ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("metadata", "reason"), [
    ({"customer_tier": "platinum"}, "VIP customer (customer_tier=platinum): at least tier3"),
    ({"vip": True}, "VIP customer (vip flag): at least tier3"),
    ({"vip": "sim"}, "VIP customer (vip flag): at least tier3"),
    ({"organization_id": "org_123", "user_id": "cust_0042"},
     "VIP customer (user_id cust_0042 on org_123's VIP list): at least tier3"),
    ({"lead_value": 10000}, "lead_value 10000 >= 10000: at least tier3"),
    ({"lead_value": 250000}, "lead_value 250000 >= 50000: at least tier4"),
])
def test_a_valuable_customer_gets_at_least_the_configured_tier_with_the_reason(metadata: dict[str, Any],
                                                                               reason: str) -> None:
    decision = decide("oi", metadata)
    assert reason in decision.reasons, decision.reasons


def test_the_org_vip_list_uses_the_caller_s_organization_over_the_body_s() -> None:
    metadata = {"organization_id": "org_other", "customer_id": "cust_0042"}
    assert decide("oi", metadata, organization_id="org_123").tier == "tier3"
    assert decide("oi", {"organization_id": "org_123", "customer_id": "cust_0042"},
                  organization_id="org_other").tier == "tier1"


def test_a_vip_floor_never_lowers_a_higher_tier() -> None:
    decision = decide("o concorrente faz por 150, vcs cobrem?", {"vip": True})
    assert decision.tier == "tier4"
    assert not any("VIP" in reason for reason in decision.reasons)


# --- stickiness ----------------------------------------------------------------------------------------------


def test_a_short_thanks_after_tier4_drops_only_to_tier3() -> None:
    decision = decide("ok, obrigado!", history=NEGOTIATION, previous_tier=4)
    assert decision.tier == "tier3"
    assert decision.reasons[-1] == "short follow-up after tier4: at least tier3"


def test_without_a_previous_tier_a_thanks_goes_to_tier1() -> None:
    assert decide("ok, obrigado!", history=NEGOTIATION).tier == "tier1"


def test_a_short_turn_on_a_new_simple_topic_drops_freely() -> None:
    assert decide("qual o horário de vocês?", history=NEGOTIATION, previous_tier=4).tier == "tier1"


def test_a_long_turn_is_routed_on_its_own_merits() -> None:
    text = "ok, obrigado pela ajuda de hoje, vou conversar com meu sócio e amanhã a gente se fala melhor"
    sticky, fresh = decide(text, previous_tier=4, router=RULES), decide(text, router=RULES)
    assert sticky.tier == fresh.tier != "tier3"
    assert not any("follow-up" in reason for reason in sticky.reasons)


def test_stickiness_never_raises_above_the_plan() -> None:
    assert decide("ok valeu", previous_tier=4, plan_max_tier=2).tier == "tier2"


@pytest.mark.parametrize(("previous", "chars", "intent", "floor"), [
    (4, 10, None, 3), (4, 10, "closing", 3), (3, 10, "small_talk", 2), (2, 10, "closing", None),
    (4, 61, "closing", None), (4, 10, "faq", None), (None, 5, None, None), (9, 5, None, 3),
])
def test_the_stickiness_rule(previous: int | None, chars: int, intent: str | None, floor: int | None) -> None:
    settings = parse_routing_settings(SETTINGS.routing).stickiness
    found = sticky_floor(previous, chars, intent, settings)
    assert (found[0] if found else None) == floor


def test_a_zero_ttl_turns_stickiness_off() -> None:
    raw = {**SETTINGS.routing, "stickiness": {**SETTINGS.routing["stickiness"], "ttl_seconds": 0}}
    assert sticky_floor(4, 5, None, parse_routing_settings(raw).stickiness) is None


# --- pinned models and tiers ---------------------------------------------------------------------------------


def test_a_pinned_tier_is_honoured_with_its_reason() -> None:
    decision = decide("Consegue um desconto?", requested_model="tier1")
    assert (decision.tier, decision.reasons) == ("tier1", ("tier pinned by request: tier1",))


def test_a_pinned_model_leads_its_chain() -> None:
    decision = decide("oi", requested_model="tier3/gpt-4")
    assert decision.tier == "tier3"
    assert decision.models[0] == "tier3/gpt-4"


def test_auto_means_the_router_decides() -> None:
    decision = decide("oi", requested_model="auto")
    assert decision.tier == "tier1" and decision.reasons[0].startswith("scorer -> tier1"), decision.reasons


def test_a_pinned_tier_above_the_plan_is_refused_with_403() -> None:
    with pytest.raises(RoutingError) as caught:
        decide("oi", requested_model="tier4", plan_max_tier=2)
    assert (caught.value.status, caught.value.code) == (403, "tier_not_allowed")


def test_an_unknown_model_is_refused_with_404_model_not_found_as_openai_does() -> None:
    with pytest.raises(RoutingError) as caught:
        decide("oi", requested_model="gpt-17")
    assert (caught.value.status, caught.value.code, caught.value.param) == (404, "model_not_found", "model")


# --- chain ---------------------------------------------------------------------------------------------------


def test_the_chain_starts_with_the_tier_s_cheapest_model_then_the_configured_fallbacks() -> None:
    decision = decide("Consegue um desconto se eu fechar hoje?")
    assert decision.models == ("tier4/gpt-4-turbo", "tier4/claude-opus", "tier3/claude-sonnet")


# --- budget ----------------------------------------------------------------------------------------------------


def test_past_the_soft_budget_a_negotiation_is_capped_and_the_reason_says_why() -> None:
    decision = decide("Quero negociar o contrato", {"intent": "negotiation"}, budget_max_tier=2,
                      budget_note="85% of the monthly budget spent")
    assert decision.tier == "tier2"
    assert decision.reasons[-1] == "85% of the monthly budget spent: tier4 capped to tier2"
    assert all(not name.startswith(("tier3/", "tier4/")) for name in decision.models)


def test_a_budget_cap_above_the_natural_tier_changes_nothing() -> None:
    decision = decide("Oi, bom dia!", budget_max_tier=2, budget_note="x")
    assert decision.tier == "tier1" and not any("budget" in r or r.startswith("x:") for r in decision.reasons)
