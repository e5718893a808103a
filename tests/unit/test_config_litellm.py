"""LiteLLM configs load as they are: tiers inferred, tiergate's sections defaulted, fallbacks read wherever LiteLLM
or the seed put them, LiteLLM settings tiergate lacks named in one warning, typos refused with the closest key."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.routing_commands import build_router
from config import ConfigError, Settings, load_settings
from routing import RouteRequest

#: A LiteLLM proxy config as its documentation writes one: no tiers, plans or routing.
LITELLM = {
    "model_list": [
        {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY",
                                                     "rpm": 600}},
        {"model_name": "claude-sonnet", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20241022",
                                                            "api_key": "os.environ/ANTHROPIC_API_KEY"},
         "model_info": {"mode": "chat", "supports_vision": True}},
        {"model_name": "groq-llama", "litellm_params": {"model": "groq/llama-3.1-8b-instant",
                                                         "api_key": "os.environ/GROQ_API_KEY"}},
    ],
    "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2, "redis_host": "localhost",
                        "fallbacks": [{"gpt-4o": ["claude-sonnet"]}]},
    "litellm_settings": {"drop_params": True, "success_callback": ["langfuse"], "cache": True,
                         "fallbacks": [{"claude-sonnet": ["groq-llama"]}]},
    "general_settings": {"master_key": "sk-1234", "database_url": "postgresql://x"},
    "environment_variables": {"FOO": "bar"},
}
SEED_FALLBACKS_SNIPPET = """
model_list:
  - model_name: tier4/claude-opus
    litellm_params: {model: anthropic/claude-3-opus-20240229, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: tier4/gpt-4-turbo
    litellm_params: {model: openai/gpt-4-turbo, api_key: os.environ/OPENAI_API_KEY}
  - model_name: tier3/claude-sonnet
    litellm_params: {model: anthropic/claude-3-5-sonnet-20241022, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: tier3/gpt-4
    litellm_params: {model: openai/gpt-4, api_key: os.environ/OPENAI_API_KEY}
  - model_name: tier2/claude-haiku
    litellm_params: {model: anthropic/claude-3-haiku-20240307, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: tier2/gpt-3.5-turbo
    litellm_params: {model: openai/gpt-3.5-turbo, api_key: os.environ/OPENAI_API_KEY}
  - model_name: tier1/llama-3.2-3b
    litellm_params: {model: together_ai/meta-llama/Llama-3.2-3B-Instruct-Turbo, api_key: os.environ/TOGETHER_API_KEY}
  - model_name: tier1/gemini-flash
    litellm_params: {model: gemini/gemini-1.5-flash, api_key: os.environ/GEMINI_API_KEY}

fallbacks:
  tier4/claude-opus: ["tier4/gpt-4-turbo", "tier3/claude-sonnet"]
  tier3/claude-sonnet: ["tier3/gpt-4", "tier2/claude-haiku"]
  tier2/claude-haiku: ["tier2/gpt-3.5-turbo", "tier1/llama-3.2-3b"]
  tier1/llama-3.2-3b: ["tier1/gemini-flash"]
"""


def load(tmp_path: Path, config: dict[str, Any] | str) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return load_settings(path, environ={})


def test_a_plain_litellm_config_runs_with_tiergates_sections_defaulted(tmp_path: Path) -> None:
    settings = load(tmp_path, LITELLM)
    assert {d.tier for d in settings.deployments().values()} == {"tier2"}, "no tier given: routing.default_tier"
    assert set(settings.tiers) == {"tier1", "tier2", "tier3", "tier4"}
    assert settings.plan_for("any-org") == ("unlimited", settings.plans["unlimited"])
    assert settings.plans["unlimited"].max_tier == 4 and settings.plans["unlimited"].rpm is None
    assert settings.routing["intent_tiers"]["greeting"] == "tier1", "the bundled routing rules"
    assert settings.general_settings.master_key == "sk-1234" and settings.litellm_settings.cache is True


def test_a_plain_litellm_config_routes_every_turn_to_the_tier_that_has_models(tmp_path: Path) -> None:
    decision = build_router(load(tmp_path, LITELLM)).decide(RouteRequest([{"role": "user", "content": "oi"}]))
    assert decision.tier == "tier2" and set(decision.models) == {"gpt-4o", "claude-sonnet", "groq-llama"}
    assert any(r == "no tier1 model is configured -> tier2" for r in decision.reasons)


def test_fallbacks_are_read_from_router_settings_and_litellm_settings_in_the_list_form(tmp_path: Path) -> None:
    assert load(tmp_path, LITELLM).litellm_settings.fallbacks == {"gpt-4o": ["claude-sonnet"],
                                                                 "claude-sonnet": ["groq-llama"]}


def test_fallbacks_in_the_map_form_in_router_settings(tmp_path: Path) -> None:
    config = {**LITELLM, "litellm_settings": {}, "router_settings": {"fallbacks": {"gpt-4o": ["groq-llama"]}}}
    assert load(tmp_path, config).litellm_settings.fallbacks == {"gpt-4o": ["groq-llama"]}


def test_litellm_settings_tiergate_does_not_implement_are_named_in_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tiergate.config"):
        load(tmp_path, LITELLM)
    [record] = [r for r in caplog.records if r.name == "tiergate.config"]
    for setting in ("router_settings.redis_host", "litellm_settings.drop_params", "litellm_settings.success_callback",
                    "general_settings.database_url", "environment_variables", "model_list[*].litellm_params.rpm",
                    "model_list[*].model_info.mode"):
        assert setting in record.getMessage(), f"{setting} missing from: {record.getMessage()}"


def test_the_bundled_config_loads_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tiergate.config"):
        load_settings(environ={})
    assert not [r for r in caplog.records if r.name == "tiergate.config"]


def test_the_seeds_fallback_snippet_plus_a_model_list_starts_as_it_is(tmp_path: Path) -> None:
    settings = load(tmp_path, SEED_FALLBACKS_SNIPPET)
    assert settings.litellm_settings.fallbacks["tier2/claude-haiku"] == ["tier2/gpt-3.5-turbo", "tier1/llama-3.2-3b"]
    tiers = {d.name: d.tier for d in settings.deployments().values()}
    assert tiers["tier1/gemini-flash"] == "tier1" and tiers["tier4/claude-opus"] == "tier4", "tier from the prefix"


def test_a_model_without_a_tier_prefix_takes_routing_default_tier(tmp_path: Path) -> None:
    config = {"model_list": LITELLM["model_list"], "routing": {"default_tier": "tier3"}}
    assert {d.tier for d in load(tmp_path, config).deployments().values()} == {"tier3"}


@pytest.mark.parametrize(("mutate", "typo", "meant"), [
    (lambda c: c["router_settings"].update(num_retires=3), "router_settings.num_retires", "num_retries"),
    (lambda c: c["litellm_settings"].update(cahce=True), "litellm_settings.cahce", "cache"),
    (lambda c: c["model_list"][1]["model_info"].update(supports_vison=True), "model_list[1].model_info.supports_vison",
     "supports_vision"),
    (lambda c: c.update(modle_list=[]), "modle_list", "model_list"),
    (lambda c: c.update(server={"cors_origin": ["*"]}), "server.cors_origin", "cors_origins"),
])
def test_a_misspelled_key_fails_the_start_naming_the_closest_known_key(tmp_path: Path, mutate: Any, typo: str,
                                                                       meant: str) -> None:
    config = yaml.safe_load(yaml.safe_dump(LITELLM))
    mutate(config)
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, config)
    assert f"{typo}: unknown key; did you mean `{meant}`?" in str(raised.value)
    assert str(tmp_path / "config.yaml") in str(raised.value)


def test_an_unknown_key_in_a_tiergate_section_fails_even_when_nothing_is_close(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server.frobnicate: unknown key"):
        load(tmp_path, {**LITELLM, "server": {"frobnicate": 1}})


def test_deployments_sharing_a_model_name_are_numbered_and_follow_the_first(tmp_path: Path) -> None:
    second = {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o",
                                                          "api_base": "https://eu.example.com/v1"}}
    config = {**LITELLM, "model_list": [*LITELLM["model_list"], second]}
    settings = load(tmp_path, config)
    assert "gpt-4o#2" in settings.deployments() and settings.deployments()["gpt-4o#2"].api_base.startswith("https://eu")
    assert settings.litellm_settings.fallbacks["gpt-4o#2"] == ["claude-sonnet"], "the name's fallbacks are each's"
    decision = build_router(settings).decide(RouteRequest([{"role": "user", "content": "oi"}], {},
                                                          requested_model="gpt-4o"))
    assert decision.models[0] == "gpt-4o" and "gpt-4o#2" in decision.models


def test_a_process_started_by_one_that_warned_does_not_warn_again(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(LITELLM))
    with caplog.at_level(logging.WARNING, logger="tiergate.config"):
        load_settings(path, environ={"TIERGATE_CONFIG_WARNED": "1"})
    assert not [r for r in caplog.records if r.name == "tiergate.config"]
