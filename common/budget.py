"""Money rules: what a request may cost at most (its reservation) and which budget thresholds spend crossed.

A request reserves its most expensive outcome at admission: its prompt at the input price plus its completion
allowance at the output price, for the dearest model of its chain (any of them may answer, after fallbacks).
Admission holds the reservation against the hard budget atomically (api/ratelimit.py); the usage record
settles it to the actual cost once (common/usage.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from common.usage import NANO

#: A model whose output limit is not configured (`model_info.max_output_tokens`) is held to this many tokens,
#: the output limit of most chat models and what the Anthropic adapter asks for when the request names none.
DEFAULT_OUTPUT_LIMIT = 4096
#: The prompt is reserved a fifth above its estimate (four characters a token, common/tokens.py): a real
#: tokenizer counts some texts higher, and the reservation must not fall short of the actual cost.
PROMPT_MARGIN = 1.2


class PricedModel(Protocol):
    @property
    def input_cost_per_token(self) -> float: ...
    @property
    def output_cost_per_token(self) -> float: ...
    @property
    def max_output_tokens(self) -> int | None: ...


@dataclass(frozen=True)
class Reservation:
    """What admission holds for one request until it is settled."""

    tokens: int       # prompt plus completion allowance, taken from the tokens-per-minute window
    cost_nusd: int    # the most the request can cost, held against the monthly budget (nano-USD)

    @property
    def cost_usd(self) -> float:
        return self.cost_nusd / NANO


def asked_completion_tokens(body: Mapping[str, Any]) -> int | None:
    """The completion limit the request sets (`max_completion_tokens`, else `max_tokens`), if any."""
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if value else None


def completion_allowance(asked: int | None, model: PricedModel) -> int:
    """The most completion tokens `model` may produce for this request: what was asked, within its output limit."""
    limit = model.max_output_tokens or DEFAULT_OUTPUT_LIMIT
    return min(asked, limit) if asked else limit


def reservation_for(prompt_tokens: int, asked: int | None, chain: Iterable[PricedModel],
                    answers: int = 1) -> Reservation:
    """The most a request can take: the largest token count and the dearest cost over its model chain, times the
    `n` answers it asks for (a provider without `n` is called once per answer, its prompt billed each time)."""
    prompt = math.ceil(prompt_tokens * PROMPT_MARGIN)
    tokens = cost = 0
    for model in chain:
        allowance = completion_allowance(asked, model)
        tokens = max(tokens, prompt + allowance)
        # Prices are per token in USD; the ceiling keeps the reservation at or above the settled cost.
        nano = prompt * model.input_cost_per_token * NANO + allowance * model.output_cost_per_token * NANO
        cost = max(cost, math.ceil(round(nano, 3)))
    return Reservation(tokens * answers, cost * answers)


def reservation_member(request_id: str, cost_nusd: int) -> str:
    """The member naming one reservation in its organization's set: admission adds it, the usage record removes
    it, and an expired one gives its amount back without anyone having to look it up."""
    return f"{cost_nusd}:{request_id}"


def crossed_levels(before_nusd: int, after_nusd: int, budget_usd: float | None, soft_ratio: float) -> list[str]:
    """"soft" and/or "hard" when this increase moved spend past that threshold (each crossed once)."""
    if not budget_usd:
        return []
    levels = []
    for level, threshold in (("soft", budget_usd * soft_ratio), ("hard", budget_usd)):
        limit = round(threshold * NANO)
        if before_nusd < limit <= after_nusd:
            levels.append(level)
    return levels


def left_usd(budget_nusd: int, spent_nusd: int, reserved_nusd: int) -> float:
    """What an organization may still commit: its budget less its spend and its outstanding reservations."""
    return max(0, budget_nusd - spent_nusd - reserved_nusd) / NANO


def format_usd(amount: float) -> str:
    """Dollars with at least two decimals and as many more, up to six, as the amount needs: $12.50, $0.025,
    $0.001735."""
    digits = f"{amount:,.6f}".rstrip("0")
    whole, _, cents = digits.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
