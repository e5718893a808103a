"""The production roles never let the simulator answer customers silently (cli/simulation_guard.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from cli.simulation_guard import refusal
from config import load_settings
from tests.harness import DEFAULT_CONFIG, ROOT

ALL_KEYS = {name: "sk-test" for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY",
                                         "TOGETHER_API_KEY", "GROQ_API_KEY")}


def _env_without(*missing: str) -> dict[str, str]:
    return {k: v for k, v in ALL_KEYS.items() if k not in missing}


def test_a_model_without_its_key_stops_the_role_naming_the_model_and_the_variable() -> None:
    reason = refusal(load_settings(environ=_env_without("GEMINI_API_KEY")), "api", simulate_missing=False)
    assert reason is not None
    assert "tier1/gemini-flash" in reason and "GEMINI_API_KEY is not set" in reason
    assert "tier3/claude-sonnet" not in reason, "a model with its key is not named"
    for way_out in ("simulator.mode: always", "--simulate-missing", "remove those models"):
        assert way_out in reason


def test_every_key_set_starts() -> None:
    assert refusal(load_settings(environ=ALL_KEYS), "worker", simulate_missing=False) is None


def test_the_three_ways_out_simulate_always_simulate_missing_or_remove_the_model(tmp_path: Path) -> None:
    missing = _env_without("GEMINI_API_KEY")
    assert refusal(load_settings(environ=missing), "api", simulate_missing=True) is None
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    always = tmp_path / "always.yaml"
    always.write_text(yaml.safe_dump({**config, "simulator": {**config["simulator"], "mode": "always"}}))
    assert refusal(load_settings(always, environ={}), "api", simulate_missing=False) is None
    removed = tmp_path / "removed.yaml"
    config["model_list"] = [m for m in config["model_list"] if m["model_name"] != "tier1/gemini-flash"]
    config["litellm_settings"]["fallbacks"] = {
        source: [t for t in targets if t != "tier1/gemini-flash"]
        for source, targets in config["litellm_settings"]["fallbacks"].items() if source != "tier1/gemini-flash"}
    removed.write_text(yaml.safe_dump(config))
    assert refusal(load_settings(removed, environ=missing), "api", simulate_missing=False) is None


def test_tiergate_api_and_worker_refuse_to_start_with_no_keys() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no provider key, no database, no Redis
    for role in ("api", "worker"):
        result = subprocess.run([sys.executable, "-m", "cli.main", role], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert f"tiergate {role}: 8 configured model(s) have no provider key" in result.stderr
        assert "ANTHROPIC_API_KEY, GEMINI_API_KEY, OPENAI_API_KEY, TOGETHER_API_KEY" in result.stderr
