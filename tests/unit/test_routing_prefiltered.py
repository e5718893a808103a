"""The prefiltered alternation answers exactly what `re` answers, on every labelled message and on spliced ones."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest

from routing import bargaining, signals
from routing.prefiltered import PrefilteredPattern, alternatives, leading_literals, required_literals
from routing.text import read_text

DATA = Path(__file__).resolve().parents[1] / "data"
PREFILTERED = {name: pattern for module in (signals, bargaining) for name, pattern in vars(module).items()
               if isinstance(pattern, PrefilteredPattern)}


def _messages() -> list[str]:
    texts = [read_text(message["content"]).folded
             for path in sorted(DATA.glob("routing_*.jsonl"))[::3]
             for line in path.read_text().splitlines() if line
             for message in json.loads(line)["messages"] if message["role"] == "user"]
    rng = random.Random(7)  # spliced halves make phrasings no writer wrote, across the patterns' seams
    spliced = [a[:rng.randrange(len(a) + 1)] + b[rng.randrange(len(b) + 1):]
               for a, b in ((rng.choice(texts), rng.choice(texts)) for _ in range(3000))]
    return texts + spliced


MESSAGES = _messages()


def test_the_signal_patterns_are_prefiltered() -> None:
    assert {"_COUNTER_OFFER", "_OFFER", "_PROBLEM", "_COMPLAINT", "_PAYMENT_TERMS", "_URGENCY"} <= set(PREFILTERED)


@pytest.mark.parametrize("name", sorted(PREFILTERED))
def test_a_prefiltered_signal_pattern_finds_what_re_finds(name: str) -> None:
    prefiltered = PREFILTERED[name]
    differ = [text for text in MESSAGES if prefiltered.found_in(text) != bool(prefiltered.pattern.search(text))]
    assert not differ, differ[:5]
    assert sum(map(prefiltered.found_in, MESSAGES)) > 10  # it does match: agreeing on "no" alone proves nothing


def test_alternatives_are_split_at_the_top_level_only() -> None:
    assert alternatives(r"ab|(?:c|d)e|[|x]f|\|g") == ["ab", "(?:c|d)e", "[|x]f", r"\|g"]
    assert alternatives(r"\b(?:caro|(?:mais|menos)\sbarato)\b|\d+%") == \
        [r"\b(?:caro)\b", r"\b(?:(?:mais|menos)\sbarato)\b", r"\d+%"]


@pytest.mark.parametrize(("source", "required"), [
    (r"desconto\w*", {"desconto"}),
    (r"(?:mais|menos)\sbarato", {"barato"}),  # the longer of the two requirements
    (r"(?:faz|faria)\s\d+", {"faz", "faria"}),
    (r"(?:por\s)?\d+\s?%", None),  # an optional word and a class require nothing
    (r"(?<!nao\s)caro", {"caro"}),  # what a lookbehind looks for is not in the match
    (r"(?:caro|\d)x", None),  # one branch without a literal: the set requires nothing
])
def test_the_required_literals_are_what_every_match_contains(source: str, required: set[str] | None) -> None:
    found = required_literals(sre_parse.parse(source, re.ASCII))
    assert (set(found) if found is not None else None) == required


@pytest.mark.parametrize(("source", "leading"), [
    (r"\b(?<!ja\s)(?:faz|faria)\s\d+", {"faz", "faria"}),  # a boundary and a lookbehind take no characters
    (r"(?:mais|menos)\sbarato", {"mais", "menos"}),  # up to the class
    (r"(?:a|bc)x", {"ax", "bcx"}),
    (r"(?=\d)\d+\s?%", None),  # a class starts it
    (r"(?:por\s)?\d+", None),  # an optional word may not be there
    (r"(?:a|bc)\d", None),  # "a" is too short to filter anything
])
def test_the_leading_literals_are_what_every_match_starts_with(source: str, leading: set[str] | None) -> None:
    found = leading_literals(sre_parse.parse(source, re.ASCII))
    assert (set(found) if found is not None else None) == leading


def test_a_match_tried_where_its_literal_starts_still_sees_what_comes_before() -> None:
    pattern = PrefilteredPattern(re.compile(r"\b(?<!ja\s)faz\s\d+|\bcaro\b", re.ASCII))
    assert pattern.found_in("faz 300?") and pattern.found_in("ok, faz 300 e faz 2")
    assert not pattern.found_in("ja faz 3 dias") and not pattern.found_in("refaz 3") and not pattern.found_in("caros")


def test_an_alternative_without_a_literal_runs_on_every_text() -> None:
    pattern = PrefilteredPattern(re.compile(r"\b(?:desconto|\d+\s?%)", re.ASCII))
    assert pattern.found_in("tem 10% ai?") and pattern.found_in("tem desconto?") and not pattern.found_in("oi")


@pytest.mark.parametrize("pattern", [
    re.compile("desconto|barato", re.IGNORECASE),  # "DESCONTO" would not hold the literal "desconto"
    re.compile("(?i:desconto)|barato"),
    re.compile("foo # a|b\n | bar", re.VERBOSE),  # the "|" in the comment is not an alternative
    re.compile(r"(a)xx|(b)\1"),  # split apart, \1 would name another group
])
def test_a_pattern_that_cannot_be_prefiltered_exactly_is_refused(pattern: re.Pattern[str]) -> None:
    with pytest.raises(ValueError, match="prefiltered patterns must"):
        PrefilteredPattern(pattern)
