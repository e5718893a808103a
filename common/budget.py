"""Budget thresholds: which ones a spend increase crossed."""

from __future__ import annotations

from common.usage import NANO


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
