"""The production roles (`tiergate api`, `tiergate worker`) never let the simulator answer customers silently.

A model whose provider needs a key that is not set would be served canned text by the simulator
(`simulator.mode: auto`); these roles refuse to start instead, naming the models and their variables.
"""

from __future__ import annotations

import os

from config import Deployment, Settings

SIMULATE_MISSING_ENV = "TIERGATE_SIMULATE_MISSING"


def simulate_missing_default() -> bool:
    return os.environ.get(SIMULATE_MISSING_ENV, "").lower() in {"1", "true", "yes"}


def unkeyed(settings: Settings) -> list[Deployment]:
    """Models that need a key and have none, unless the config simulates every model (`mode: always`)."""
    if settings.simulator.mode == "always":
        return []
    return [d for d in settings.deployments().values() if d.missing_key]


def refusal(settings: Settings, role: str, simulate_missing: bool) -> str | None:
    """Why `role` must not start, or None when every model has a key or simulating the rest was asked for."""
    missing = unkeyed(settings)
    if not missing or (simulate_missing and settings.simulator.mode == "auto"):
        return None
    width = max(len(d.name) for d in missing)
    lines = [f"  {d.name:<{width}}  {_remedy(d)}" for d in missing]
    variables = sorted({d.key_variable for d in missing if d.key_variable})
    return (f"tiergate {role}: {len(missing)} configured model(s) have no provider key; in production the "
            "simulator would answer for them, so this role does not start:\n" + "\n".join(lines) + "\n"
            f"Set {', '.join(variables) or 'their keys'}, or remove those models from model_list, or simulate them "
            f"on purpose: simulator.mode: always, or --simulate-missing ({SIMULATE_MISSING_ENV}=1).")


def _remedy(deployment: Deployment) -> str:
    if deployment.key_variable:
        return f"{deployment.key_variable} is not set"
    return "no litellm_params.api_key (e.g. api_key: os.environ/NAME)"
