"""The router's inputs and its output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelCandidate:
    """What the router knows of a configured model: no keys, no URLs."""

    name: str
    tier: int
    input_cost_per_token: float
    output_cost_per_token: float
    weight: float = 1.0
    max_input_tokens: int | None = None
    #: what it can do ("function_calling", "response_schema", "vision", "logprobs", ...; config/settings.py)
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RouteRequest:
    """One turn to route. `organization_id` is the caller's (from the key); when None, metadata's is used.

    `previous_tier` is the tier of this conversation's previous turn while the stickiness window is open
    (the API reads it from Redis); `plan_name` only names the plan in the reasons.
    """

    messages: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    requested_model: str | None = None
    plan_max_tier: int = 4
    organization_id: str | None = None
    previous_tier: int | None = None
    plan_name: str | None = None
    #: Past the soft budget threshold: the highest tier for auto-routed turns, and why (for the reason).
    budget_max_tier: int | None = None
    budget_note: str | None = None
    #: What the request needs of a model: capability → the request parameter that needs it ("tools"); a model
    #: without one of them is left out of the chain.
    needs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDecision:
    tier: str
    models: tuple[str, ...]
    reasons: tuple[str, ...]
    intent: str | None = None
    complexity: float | None = None

    @property
    def tier_number(self) -> int:
        return int(self.tier.removeprefix("tier"))

    def reason_text(self) -> str:
        """One line for the `x-gateway-route-reason` header (ASCII-safe is the caller's job)."""
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "models": list(self.models), "reasons": list(self.reasons),
                "intent": self.intent, "complexity": self.complexity}


class RoutingError(Exception):
    """The request names a model or tier that cannot be used: `status` is 400 or 403."""

    def __init__(self, status: int, message: str, code: str, param: str = "model") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
