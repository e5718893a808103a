"""Intent: from metadata when given, else detected from the turn's words, else carried from an earlier turn."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from routing.settings import IntentRule, QuantityRule
from routing.text import Found


@dataclass(frozen=True)
class IntentMatch:
    name: str
    source: str  # "metadata", "detected" or "earlier turn"
    evidence: tuple[str, ...] = ()

    def describe(self, tier: int) -> str:
        found = f": {', '.join(self.evidence[:4])}" if self.evidence else ""
        return f"intent {self.name} ({self.source}{found}) -> tier{tier}"


def detect_intent(found: Found, words: int, folded: str, has_code: bool,
                  rules: Iterable[IntentRule]) -> IntentMatch | None:
    """The intent with the highest keyword score; `rules` come higher tier first, so a tie goes up.

    `found` is the vocabulary scan of the text, `words` its word count, `folded` its folded form (for quantities),
    `has_code` whether it holds code or error output.
    """
    best: tuple[str, tuple[str, ...]] | None = None  # the name and evidence of the best rule so far
    best_score = 0
    for rule in rules:
        if rule.max_words is not None and words > rule.max_words:
            continue
        if not _can_score(rule, found, has_code):
            continue  # it would score 0, and 0 never wins: skip building its evidence
        strong, weak = rule.strong.matches(found), rule.keywords.matches(found)
        quantities = _large_quantities(folded, rule.quantity)
        code = ["code or error output"] if has_code and rule.code_output else []
        score = 3 * (len(strong) + len(quantities) + len(code)) + len(weak)
        if score > best_score and score >= rule.min_score:
            best, best_score = (rule.name, (*code, *quantities, *strong, *weak)), score
    return IntentMatch(best[0], "detected", best[1]) if best is not None else None  # one (costly) frozen instance


def _can_score(rule: IntentRule, found: Found, has_code: bool) -> bool:
    """Whether anything may count for the rule: a keyword found, a quantity to look for, code output it takes."""
    return (rule.keywords.key in found or rule.strong.key in found or rule.quantity is not None
            or (has_code and rule.code_output))


def metadata_intent(metadata: Mapping[str, object], intent_tiers: Mapping[str, int]) -> IntentMatch | None:
    intent = metadata.get("intent")
    if isinstance(intent, str) and intent.strip().lower() in intent_tiers:
        return IntentMatch(intent.strip().lower(), "metadata")
    return None


def _large_quantities(folded: str, rule: QuantityRule | None) -> list[str]:
    """Phrases like "300 licencas" or "2.000 paineis": the size of a deal, when at least the configured minimum."""
    if rule is None:
        return []
    return [match.group(0) for match in rule.pattern.finditer(folded)
            if _quantity(match.group(1), bool(match.group(2))) >= rule.minimum]


def _quantity(digits: str, thousands: bool) -> float:
    """'2.000' and '2,000' are two thousand; '1,5' is one and a half; 'mil' multiplies."""
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", digits):
        value = float(re.sub(r"[.,]", "", digits))
    else:
        value = float(digits.replace(",", "."))
    return value * 1000 if thousands else value
