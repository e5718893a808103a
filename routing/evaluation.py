"""Routing quality on labelled turns: accuracy, confusion matrix, under/over-routing and estimated cost.

Pure: the caller reads the file and passes parsed turns. Cost is an estimate: input tokens are the characters
of every message of the turn divided by CHARS_PER_TOKEN, and every answer is assumed `completion_tokens` long
(250 by default, a typical sales-chat answer), priced at the first model of the tier's chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from routing.customer import customer_floor
from routing.decision import RouteRequest
from routing.router import Router
from routing.text import user_texts

CHARS_PER_TOKEN = 4
DEFAULT_COMPLETION_TOKENS = 250


@dataclass(frozen=True)
class LabelledTurn:
    messages: list[dict[str, Any]]
    metadata: dict[str, Any]
    expected_tier: int
    plan_max_tier: int = 4
    plan_name: str | None = None
    previous_tier: int | None = None
    category: str | None = None
    business: str | None = None  # cross-validation keeps a business's turns on one side
    lang: str | None = None
    writer: str | None = None  # who wrote the turn: --by writer holds out one writer at a time
    turn_id: str | None = None

    def request(self) -> RouteRequest:
        return RouteRequest(self.messages, self.metadata, plan_max_tier=self.plan_max_tier,
                            previous_tier=self.previous_tier, plan_name=self.plan_name)


@dataclass(frozen=True)
class Miss:
    line: int  # position in the evaluated turns, from 1
    expected_tier: int
    routed_tier: int
    text: str
    reasons: tuple[str, ...]
    turn_id: str | None = None


@dataclass
class Evaluation:
    total: int = 0
    exact: int = 0
    under: int = 0
    over: int = 0
    confusion: list[list[int]] = field(default_factory=lambda: [[0] * 4 for _ in range(4)])
    critical_under: list[Miss] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    cost_routed: float = 0.0
    cost_tier4: float = 0.0
    cost_tier2: float = 0.0
    cost_labelled: float = 0.0  # every turn at its labelled tier: the cost of routing perfectly
    by_category: dict[str, list[int]] = field(default_factory=dict)  # category -> [total, exact, under]
    by_language: dict[str, list[int]] = field(default_factory=dict)  # language -> [total, exact, under]
    by_writer: dict[str, list[int]] = field(default_factory=dict)  # writer -> [total, exact, under]

    def rate(self, count: int) -> float:
        return count / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "turns": self.total, "exact_accuracy": round(self.rate(self.exact), 4),
            "under_routing_rate": round(self.rate(self.under), 4),
            "over_routing_rate": round(self.rate(self.over), 4),
            "confusion_matrix": {"rows": "expected tier1..tier4", "columns": "routed tier1..tier4",
                                 "counts": self.confusion},
            "critical_under_routed": [_miss_dict(m) for m in self.critical_under],
            "cost_usd": {"routed": round(self.cost_routed, 6), "always_tier4": round(self.cost_tier4, 6),
                         "always_tier2": round(self.cost_tier2, 6), "as_labelled": round(self.cost_labelled, 6),
                         "routed_vs_tier4": round(_ratio(self.cost_routed, self.cost_tier4), 4),
                         "as_labelled_vs_tier4": round(_ratio(self.cost_labelled, self.cost_tier4), 4),
                         "routed_vs_as_labelled": round(_ratio(self.cost_routed, self.cost_labelled), 4),
                         "routed_vs_tier2": round(_ratio(self.cost_routed, self.cost_tier2), 4)},
            "by_category": {name: {"turns": t, "exact": e, "under": u}
                            for name, (t, e, u) in sorted(self.by_category.items())},
            "by_language": _rates(self.by_language),
            "by_writer": _rates(self.by_writer),
            "by_tier": {f"tier{tier}": {"turns": sum(row), "exact_accuracy": round(_ratio(row[tier - 1], sum(row)), 4),
                                        "under_routing_rate": round(_ratio(sum(row[:tier - 1]), sum(row)), 4)}
                        for tier, row in enumerate(self.confusion, start=1)},
            "misses": [_miss_dict(m) for m in self.misses],
        }


def parse_turn(raw: Mapping[str, Any], plans: Mapping[str, int], line: int) -> LabelledTurn:
    """One JSON Lines record; ValueError names the line and field. Without `plan`, the highest plan applies."""
    messages, metadata, expected = raw.get("messages"), raw.get("metadata") or {}, raw.get("expected_tier")
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"line {line}: messages must be a non-empty list")
    if not isinstance(metadata, dict):
        raise ValueError(f"line {line}: metadata must be an object")
    if isinstance(expected, bool) or expected not in (1, 2, 3, 4):
        raise ValueError(f"line {line}: expected_tier must be 1-4, got {expected!r}")
    plan = raw.get("plan")
    if plan is not None and plan not in plans:
        raise ValueError(f"line {line}: plan {plan!r} is not configured ({', '.join(sorted(plans))})")
    previous = raw.get("previous_tier")
    if previous is not None and previous not in (1, 2, 3, 4):
        raise ValueError(f"line {line}: previous_tier must be 1-4, got {previous!r}")
    return LabelledTurn(messages, metadata, expected, plans[plan] if plan else max(plans.values(), default=4),
                        plan, previous, raw.get("category"), raw.get("business"), raw.get("lang"),
                        raw.get("writer"), raw.get("id"))


def evaluate(router: Router, turns: Iterable[LabelledTurn],
             completion_tokens: int = DEFAULT_COMPLETION_TOKENS,
             routers: Sequence[Router] | None = None) -> Evaluation:
    """Route every turn and count; `routers`, when given, routes turn i with routers[i] (cross-validation)."""
    result = Evaluation()
    prices = {tier: router.primary_prices(tier) for tier in range(1, 5)}
    for line, turn in enumerate(turns, start=1):
        decision = (routers[line - 1] if routers else router).decide(turn.request())
        routed, expected = decision.tier_number, turn.expected_tier
        result.total += 1
        result.confusion[expected - 1][routed - 1] += 1
        result.exact += routed == expected
        result.under += routed < expected
        result.over += routed > expected
        if routed != expected:
            miss = Miss(line, expected, routed, (user_texts(turn.messages) or [""])[-1], decision.reasons,
                        turn.turn_id)
            result.misses.append(miss)
            if routed < expected and _is_critical(router, turn):
                result.critical_under.append(miss)
        _count(result.by_category, turn.category, routed, expected)
        _count(result.by_language, turn.lang, routed, expected)
        _count(result.by_writer, turn.writer, routed, expected)
        tokens_in = sum(len(str(m.get("content") or "")) for m in turn.messages) / CHARS_PER_TOKEN
        result.cost_routed += _cost(prices[routed], tokens_in, completion_tokens)
        result.cost_tier4 += _cost(prices[4], tokens_in, completion_tokens)
        result.cost_tier2 += _cost(prices[2], tokens_in, completion_tokens)
        result.cost_labelled += _cost(prices[expected], tokens_in, completion_tokens)
    return result


def _is_critical(router: Router, turn: LabelledTurn) -> bool:
    """Negotiation and high-value turns (labelled tier 4) and VIP or valuable-lead customers."""
    if turn.expected_tier == 4:
        return True
    org = turn.metadata.get("organization_id")
    return customer_floor(turn.metadata, org if isinstance(org, str) else None,
                          router.settings.customer_value) is not None


def _count(table: dict[str, list[int]], key: str | None, routed: int, expected: int) -> None:
    if key:
        counts = table.setdefault(key, [0, 0, 0])
        counts[0] += 1
        counts[1] += routed == expected
        counts[2] += routed < expected


def _cost(prices: tuple[float, float], tokens_in: float, tokens_out: int) -> float:
    return prices[0] * tokens_in + prices[1] * tokens_out


def _rates(table: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    return {name: {"turns": t, "exact_accuracy": round(_ratio(e, t), 4), "under_routing_rate": round(_ratio(u, t), 4)}
            for name, (t, e, u) in sorted(table.items())}


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _miss_dict(miss: Miss) -> dict[str, Any]:
    return {"line": miss.line, "id": miss.turn_id, "expected": miss.expected_tier, "routed": miss.routed_tier,
            "text": miss.text, "reasons": list(miss.reasons)}
