"""Complexity of a turn from its content: a weighted sum of capped features, mapped to a tier by thresholds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.settings import ComplexitySettings

_QUESTIONS = re.compile(r"\?+")
_LIST_ITEMS = re.compile(r"(?m)^\s*(?:[-*•]|\d{1,2}[.)])\s+|(?<![\w.,])\d{1,2}\)\s")
_CODE = re.compile(r"```|Traceback \(|\b\w+(?:Error|Exception)\b|^\s+at \S+\(|\{\s*\"\w+\"\s*:|</?[a-z]+[^>]*>"
                   r"|\bline \d+\b|\b(?:def|function|const|import|SELECT)\s", re.MULTILINE)
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
_MONEY = re.compile(r"r\$|us\$|€|\$\s*\d|\d\s*%|\breais\b|\bd[oó]lares\b|\bdollars?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Complexity:
    score: float
    tier: int
    signals: tuple[str, ...]

    def describe(self) -> str:
        found = f" ({', '.join(self.signals)})" if self.signals else ""
        return f"complexity {self.score:.1f}{found}"


def analyse(text: str, padded: str, user_turns: int, settings: ComplexitySettings) -> Complexity:
    """Score the last user message; `padded` is its normalised form, `user_turns` the conversation depth."""
    features = {
        "chars_per_100": len(text) / 100,
        "question": len(_QUESTIONS.findall(text)),
        "list_item": len(_LIST_ITEMS.findall(text)),
        "code": 1.0 if _CODE.search(text) else 0.0,
        "number": len(_NUMBERS.findall(text)),
        "money": len(_MONEY.findall(text)),
        "comparison": settings.comparison_terms.count(padded),
        "technical_term": settings.technical_terms.count(padded),
        "commercial_term": settings.commercial_terms.count(padded),
        "depth": max(0, user_turns - 1),
    }
    score = 0.0
    for name, weight in settings.weights.items():
        score += weight * min(features[name], settings.caps.get(name, float("inf")))
    tier = next((tier for tier, minimum in settings.thresholds if score >= minimum), 1)
    return Complexity(round(score, 2), tier, _signals(len(text), features))


def _signals(chars: int, features: dict[str, float]) -> tuple[str, ...]:
    """The features present, as words a support engineer reads in a log line."""
    labels = (("question", "questions"), ("list_item", "list items"), ("number", "numbers"),
              ("money", "amounts"), ("comparison", "comparisons"), ("technical_term", "technical terms"),
              ("commercial_term", "commercial terms"), ("depth", "earlier turns"))
    signals = [f"{chars} chars"]
    if features["code"]:
        signals.append("code or error output")
    signals += [f"{int(features[name])} {label}" for name, label in labels if features[name]]
    return tuple(signals)
