"""First router: intent from metadata mapped to a tier, else a length heuristic.

The decision is capped at the plan's highest tier; a pinned tier or model is honoured when the plan allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from routing.chain import model_chain
from routing.decision import ModelCandidate, RouteDecision, RouteRequest, RoutingError

TIERS = ("tier1", "tier2", "tier3", "tier4")


class Router:
    def __init__(self, settings: Mapping[str, Any], models: Iterable[ModelCandidate],
                 fallbacks: Mapping[str, list[str]], strategy: str = "cheapest") -> None:
        self._models = {m.name: m for m in models}
        self._fallbacks = dict(fallbacks)
        self._strategy = strategy
        self._intent_tiers = {k: _tier_number(v) for k, v in (settings.get("intent_tiers") or {}).items()}
        thresholds = settings.get("length_thresholds") or {}
        self._length_thresholds = sorted(
            ((int(chars), _tier_number(tier)) for tier, chars in thresholds.items()), reverse=True)

    def decide(self, request: RouteRequest) -> RouteDecision:
        pinned = request.requested_model
        if pinned and pinned != "auto":
            return self._pinned(pinned, request.plan_max_tier)
        tier, reasons = self._natural_tier(request)
        if tier > request.plan_max_tier:
            reasons.append(f"plan caps tier{tier} to tier{request.plan_max_tier}")
            tier = request.plan_max_tier
        return RouteDecision(f"tier{tier}", self._chain(tier, request.plan_max_tier), tuple(reasons))

    def _natural_tier(self, request: RouteRequest) -> tuple[int, list[str]]:
        intent = request.metadata.get("intent")
        if isinstance(intent, str) and intent in self._intent_tiers:
            tier = self._intent_tiers[intent]
            return tier, [f"intent {intent} -> tier{tier}"]
        length = len(_last_user_text(request.messages))
        for threshold, tier in self._length_thresholds:
            if length >= threshold:
                return tier, [f"message length {length} >= {threshold} -> tier{tier}"]
        return 1, [f"message length {length}: short -> tier1"]

    def _pinned(self, requested: str, plan_max: int) -> RouteDecision:
        if requested in TIERS:
            tier = _tier_number(requested)
            reason = f"tier pinned by request: {requested}"
        elif requested in self._models:
            tier = self._models[requested].tier
            reason = f"model pinned by request: {requested}"
        else:
            raise RoutingError(400, f"model: unknown model {requested!r}; use 'auto', a tier (tier1..tier4) "
                                    "or a model listed by GET /ai/models", "model_not_found")
        if tier > plan_max:
            raise RoutingError(403, f"model: {requested} is tier{tier}, above this organization's plan "
                                    f"(highest tier{plan_max})", "tier_not_allowed")
        if requested in self._models:
            rest = [m for m in self._chain(tier, plan_max) if m != requested]
            return RouteDecision(f"tier{tier}", (requested, *rest), (reason,))
        return RouteDecision(f"tier{tier}", self._chain(tier, plan_max), (reason,))

    def _chain(self, tier: int, plan_max: int) -> tuple[str, ...]:
        return model_chain(tier, plan_max, self._models.values(), self._fallbacks, self._strategy)


def _tier_number(name: str) -> int:
    if name not in TIERS:
        raise ValueError(f"unknown tier {name!r}")
    return int(name.removeprefix("tier"))


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""
