"""Loading config/litellm_config.yaml: the seed's shape loads, env references resolve, bad files say why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_settings
from config.settings import resolve_env

Mutation = Callable[[dict[str, Any]], Any]  # edits a loaded config in place
DEFAULT = Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml"
SEED_FALLBACKS = {
    "tier4/claude-opus": ["tier4/gpt-4-turbo", "tier3/claude-sonnet"],
    "tier3/claude-sonnet": ["tier3/gpt-4", "tier2/claude-haiku"],
    "tier2/claude-haiku": ["tier2/gpt-3.5-turbo", "tier1/llama-3.2-3b"],
    "tier1/llama-3.2-3b": ["tier1/gemini-flash"],
}


def _write(tmp_path: Path, mutate: Mutation) -> Path:
    config = yaml.safe_load(DEFAULT.read_text())
    mutate(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_default_config_lists_the_seed_models_in_their_tiers_and_the_seed_fallbacks_verbatim() -> None:
    settings = load_settings(DEFAULT, environ={})
    tiers = {d.name: d.tier for d in settings.deployments().values()}
    assert tiers == {"tier1/llama-3.2-3b": "tier1", "tier1/gemini-flash": "tier1", "tier2/claude-haiku": "tier2",
                     "tier2/gpt-3.5-turbo": "tier2", "tier3/claude-sonnet": "tier3", "tier3/gpt-4": "tier3",
                     "tier4/claude-opus": "tier4", "tier4/gpt-4-turbo": "tier4"}
    assert settings.litellm_settings.fallbacks == SEED_FALLBACKS


def test_without_provider_keys_every_model_is_served_by_the_simulator() -> None:
    deployments = load_settings(DEFAULT, environ={}).deployments()
    assert all(d.simulated and d.api_key is None for d in deployments.values())


def test_a_provider_key_in_the_environment_reaches_its_models_and_only_them() -> None:
    deployments = load_settings(DEFAULT, environ={"OPENAI_API_KEY": "sk-real"}).deployments()
    assert deployments["tier3/gpt-4"].api_key == "sk-real" and not deployments["tier3/gpt-4"].simulated
    assert deployments["tier3/gpt-4"].api_base == "https://api.openai.com/v1"
    assert deployments["tier3/claude-sonnet"].simulated


def test_the_master_key_comes_from_litellm_master_key() -> None:
    assert load_settings(DEFAULT, environ={"LITELLM_MASTER_KEY": "sk-m"}).general_settings.master_key == "sk-m"
    assert load_settings(DEFAULT, environ={}).general_settings.master_key is None


def test_env_references_resolve_inside_nested_lists_and_unset_ones_become_none() -> None:
    resolved = resolve_env({"a": ["os.environ/X", {"b": "os.environ/Y"}], "c": "plain"}, {"X": "1"})
    assert resolved == {"a": ["1", {"b": None}], "c": "plain"}


def test_litellm_list_shaped_fallbacks_load_too(tmp_path: Path) -> None:
    def to_list(config: dict) -> None:
        config["litellm_settings"]["fallbacks"] = [{k: v} for k, v in SEED_FALLBACKS.items()]

    assert load_settings(_write(tmp_path, to_list), environ={}).litellm_settings.fallbacks == SEED_FALLBACKS


@pytest.mark.parametrize(("mutate", "path_and_reason"), [
    (lambda c: c["litellm_settings"]["fallbacks"].update({"tier1/gemini-flash": ["tier9/x"]}),
     "litellm_settings.fallbacks.tier1/gemini-flash: unknown model 'tier9/x'"),
    (lambda c: c["model_list"][0]["model_info"].update(tier=7), "model_list.0.model_info.tier"),
    (lambda c: c["model_list"][0]["litellm_params"].update(model="noprovider"), "model_list.0.litellm_params.model"),
    (lambda c: c["tiers"].pop("tier4"), "tiers: must define exactly tier1, tier2, tier3, tier4"),
    (lambda c: c["organizations"].update(org_x={"plan": "gold"}), "organizations.org_x.plan: unknown plan 'gold'"),
    (lambda c: c.update(surprise=1), "surprise: Extra inputs are not permitted"),
    (lambda c: c["router_settings"].update(num_retries=-1), "router_settings.num_retries"),
])
def test_a_bad_config_names_the_file_the_key_path_and_the_reason(tmp_path: Path, mutate: Mutation,
                                                                 path_and_reason: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(path) in str(caught.value)
    assert path_and_reason in str(caught.value)


def test_a_missing_or_unparsable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml", environ={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken, environ={})


def test_a_bad_routing_section_fails_at_load_with_the_file_and_key_path(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda c: c["routing"].update(stickiness={"ttl_seconds": -5}))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(path) in str(caught.value) and "routing.stickiness.ttl_seconds" in str(caught.value)
