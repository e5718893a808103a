"""Complexity of a turn from its content: a weighted sum of capped features, mapped to a tier by thresholds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.settings import ComplexitySettings
from routing.text import Found

_QUESTIONS = re.compile(r"\?+")
_LIST_LINES = re.compile(r"(?m)^[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]")
_INLINE_ITEMS = re.compile(r"\d\)\s")  # "1) funil, 2) automacao"
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
#: Substrings that only code, a stack trace, JSON or markup contain; plain `in` tests, cheaper than a regex.
_CODE_MARKERS = ("```", "Traceback", "Error:", "Exception", '{"', '": ', "</", "/>", '  File "', "\n    at ",
                 "SELECT ", "def ", "=>", "();")
_MONEY_MARKERS = ("$", "€", "%")


@dataclass(frozen=True)
class Complexity:
    score: float
    tier: int
    signals: tuple[str, ...]
    has_code: bool = False

    def describe(self) -> str:
        found = f" ({', '.join(self.signals)})" if self.signals else ""
        return f"complexity {self.score:.1f}{found}"


def analyse(text: str, found: Found, user_turns: int, settings: ComplexitySettings,
            chars: int | None = None) -> Complexity:
    """Score the last user message; `found` is its vocabulary scan, `user_turns` the conversation depth. `text`
    may be the head and tail of a long message (routing.text.read_text), `chars` then the whole one's length."""
    chars = len(text) if chars is None else chars
    features = {
        "chars_per_100": chars / 100,
        "question": len(_QUESTIONS.findall(text)),
        "list_item": _list_items(text),
        "code": 1.0 if any(marker in text for marker in _CODE_MARKERS) else 0.0,
        "number": len(_NUMBERS.findall(text)),
        "money": sum(text.count(marker) for marker in _MONEY_MARKERS),
        "comparison": settings.comparison_terms.count(found),
        "technical_term": settings.technical_terms.count(found),
        "commercial_term": settings.commercial_terms.count(found),
        "depth": max(0, user_turns - 1),
    }
    score = 0.0
    caps = settings.caps
    for name, weight in settings.weights.items():
        value, cap = features[name], caps.get(name)
        if cap is not None and cap < value:  # min(value, cap), without a call per feature
            value = cap
        score += weight * value
    tier = next((tier for tier, minimum in settings.thresholds if score >= minimum), 1)
    return Complexity(round(score, 2), tier, _signals(chars, features), bool(features["code"]))


def _list_items(text: str) -> int:
    """Bulleted or numbered lines, else inline numbered items."""
    lines = len(_LIST_LINES.findall(text)) if "\n" in text else 0
    return lines or (len(_INLINE_ITEMS.findall(text)) if ")" in text else 0)


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
