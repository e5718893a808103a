"""Capability-aware routing: the chain holds only models that can honour what the request needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.routing_commands import build_router
from config import load_settings
from routing import RouteRequest, RoutingError

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml")
ROUTER = build_router(SETTINGS)
DEPLOYMENTS = SETTINGS.deployments()
PRODUCT = [{"role": "user", "content": "qual a diferença entre o plano Pro e o Premium?"}]  # tier 2


def decide(needs: dict[str, str], **fields: Any) -> Any:
    return ROUTER.decide(RouteRequest(PRODUCT, {}, needs=needs, **fields))


def test_provider_defaults_and_model_info_give_each_deployment_its_capabilities() -> None:
    assert "logprobs" not in DEPLOYMENTS["tier2/claude-haiku"].capabilities
    assert {"vision", "response_schema", "function_calling"} <= DEPLOYMENTS["tier2/claude-haiku"].capabilities
    assert {"logprobs", "n", "vision"} <= DEPLOYMENTS["tier1/gemini-flash"].capabilities
    assert "vision" not in DEPLOYMENTS["tier2/gpt-3.5-turbo"].capabilities, "model_info supports_vision: false"
    assert "response_schema" not in DEPLOYMENTS["tier3/gpt-4"].capabilities


def test_without_needs_the_chain_is_the_tiers_chain() -> None:
    assert decide({}).models == ROUTER.decide(RouteRequest(PRODUCT, {})).models


def test_an_auto_routed_request_skips_models_that_cannot_honour_it() -> None:
    decision = decide({"logprobs": "logprobs"})
    assert decision.tier == "tier2"
    assert decision.models and "tier2/claude-haiku" not in decision.models
    assert all("logprobs" in DEPLOYMENTS[m].capabilities for m in decision.models)


def test_when_no_model_of_the_tier_can_the_nearest_tier_that_can_answers() -> None:
    decision = decide({"audio_input": "messages[0].content[1]"})
    assert decision.tier == "tier1" and decision.models == ("tier1/gemini-flash",)
    assert any("audio_input" in reason and "-> tier1" in reason for reason in decision.reasons)


def test_a_pinned_model_that_cannot_is_refused_naming_the_parameter() -> None:
    with pytest.raises(RoutingError) as caught:
        decide({"logprobs": "logprobs"}, requested_model="tier2/claude-haiku")
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "unsupported_parameter", "logprobs")
    assert "tier2/claude-haiku" in caught.value.message


def test_a_pinned_models_fallbacks_that_cannot_are_left_out() -> None:
    decision = decide({"vision": "messages[0].content[1]"}, requested_model="tier2/claude-haiku")
    assert decision.models[0] == "tier2/claude-haiku"
    assert "tier2/gpt-3.5-turbo" not in decision.models and "tier1/llama-3.2-3b" not in decision.models
    assert all("vision" in DEPLOYMENTS[m].capabilities for m in decision.models)


def test_a_pinned_tier_without_a_capable_model_is_refused() -> None:
    with pytest.raises(RoutingError) as caught:
        decide({"audio_input": "messages[0].content[1]"}, requested_model="tier3")
    assert (caught.value.status, caught.value.param) == (400, "messages[0].content[1]")


def test_a_need_no_model_of_the_plan_has_is_refused() -> None:
    with pytest.raises(RoutingError) as caught:
        decide({"audio_input": "messages[0].content[1]", "video_input": "messages[0].content[2]"})
    assert caught.value.status == 400 and caught.value.code == "unsupported_parameter"
    assert caught.value.message.startswith("messages[0].content[1]: none of the models")
