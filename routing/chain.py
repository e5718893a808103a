"""The ordered model chain for a tier: the tier's models by strategy, then their configured fallbacks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from routing.decision import ModelCandidate


def order_models(models: Iterable[ModelCandidate], strategy: str) -> list[ModelCandidate]:
    """Static preference among the models of one tier (workers refine with live health and latency)."""
    if strategy == "weighted":
        return sorted(models, key=lambda m: (-m.weight, m.name))
    return sorted(models, key=lambda m: (m.input_cost_per_token + m.output_cost_per_token, m.name))


def model_chain(tier: int, plan_max: int, models: Iterable[ModelCandidate],
                fallbacks: Mapping[str, list[str]], strategy: str) -> tuple[str, ...]:
    """Tier models first, then each one's fallbacks (one level), never above the plan's tier."""
    catalogue = {m.name: m for m in models}
    chain: list[str] = []
    primary = order_models((m for m in catalogue.values() if m.tier == tier), strategy)
    for model in primary:
        _add(chain, model.name)
    for model in primary:
        for name in fallbacks.get(model.name, []):
            if name in catalogue and catalogue[name].tier <= plan_max:
                _add(chain, name)
    return tuple(chain)


def _add(chain: list[str], name: str) -> None:
    if name not in chain:
        chain.append(name)
