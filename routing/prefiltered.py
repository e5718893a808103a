"""Whether a long alternation matches a text, found faster than `re` finds it, with the same answer.

Python's `re` tries every alternative of a pattern at every position of the text: the counter-offer pattern has
over a hundred, and reading it took half of a routing decision on long turns. Here each top-level alternative is
compiled on its own with the literal strings it cannot match without (one of "desconto", "discount"; "barato"),
read from the parsed pattern. One Aho-Corasick pass finds which of those literals a text holds, and only their
alternatives run. An alternative without such a literal runs on every text. A match needs its literal, so no
alternative that could match is skipped: the answer is `re`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from re import _constants as sre  # type: ignore[attr-defined]  # the parser's node types (Python >= 3.11)
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import ahocorasick

#: A literal shorter than this is in nearly every text: it filters nothing.
_MIN_LITERAL = 2
#: Beyond this many prefixes ("(?:a|b|c)(?:d|e|f)..."), the prefix stops growing.
_MAX_PREFIXES = 256
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)

#: Literal strings one of which every match contains; None when nothing is known.
Required = frozenset[str] | None


class PrefilteredPattern:
    """`found_in(text)` is `bool(pattern.search(text))`."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self._alternatives: list[re.Pattern[str]] = []
        unfiltered: list[str] = []
        by_literal: dict[str, list[int]] = {}
        for source in alternatives(pattern.pattern):
            literals = required_literals(sre_parse.parse(source, pattern.flags))
            if literals is None:
                unfiltered.append(source)
                continue
            for literal in literals:
                by_literal.setdefault(literal, []).append(len(self._alternatives))
            self._alternatives.append(re.compile(source, pattern.flags))
        self._unfiltered = re.compile("|".join(f"(?:{s})" for s in unfiltered), pattern.flags) if unfiltered else None
        self._automaton = ahocorasick.Automaton()
        for literal, indexes in by_literal.items():
            self._automaton.add_word(literal, tuple(indexes))
        if by_literal:
            self._automaton.make_automaton()

    def found_in(self, text: str) -> bool:
        if self._unfiltered is not None and self._unfiltered.search(text):
            return True
        if not self._alternatives:
            return False
        tried: set[int] = set()
        for _, indexes in self._automaton.iter(text):
            for index in indexes:
                if index not in tried:
                    tried.add(index)
                    if self._alternatives[index].search(text):
                        return True
        return False


def required_literals(items: Iterable[tuple[Any, Any]]) -> Required:
    """The most selective requirement of a parsed sequence: a run of literal characters, or what a group, a set
    of alternatives or a repeat of at least once requires; the one whose shortest string is longest."""
    items = list(items)
    candidates = [frozenset(_prefixes(items[i:])[0]) for i in range(len(items))
                  if items[i][0] in (sre.LITERAL, sre.BRANCH, sre.SUBPATTERN)]
    run: list[str] = []
    for op, value in items:
        if op is sre.LITERAL:
            run.append(chr(value))
            continue
        if run:
            candidates.append(frozenset(["".join(run)]))
            run = []
        found = _required_by(op, value)
        if found is not None:
            candidates.append(found)
    if run:
        candidates.append(frozenset(["".join(run)]))
    useful = [c for c in candidates if min(map(len, c)) >= _MIN_LITERAL]
    return max(useful, key=lambda c: (min(map(len, c)), -len(c)), default=None)


def _prefixes(items: list[tuple[Any, Any]]) -> tuple[set[str], bool]:
    """The literal strings a match of `items` starts with, one of them (the parser factors "faz|faria" into "fa"
    and "z|ria": this gives back "faz" and "faria"), and whether they are the whole of it."""
    prefixes = {""}
    for op, value in items:
        if op is sre.LITERAL:
            prefixes = {prefix + chr(value) for prefix in prefixes}
            continue
        if op is sre.SUBPATTERN:
            branches = [_prefixes(value[3])]
        elif op is sre.BRANCH:
            branches = [_prefixes(branch) for branch in value[1]]
        else:
            return prefixes, False
        prefixes = {prefix + start for prefix in prefixes for starts, _ in branches for start in starts}
        if not all(whole for _, whole in branches) or len(prefixes) > _MAX_PREFIXES:
            return prefixes, False
    return prefixes, True


def _required_by(op: Any, value: Any) -> Required:
    """What one parsed item requires; a class, any character or a zero-width assertion requires nothing."""
    if op is sre.SUBPATTERN:
        return required_literals(value[3])
    if op is sre.BRANCH:
        branches = [required_literals(branch) for branch in value[1]]
        return None if any(b is None for b in branches) else frozenset().union(*branches)  # type: ignore[misc]
    if op in _REPEATS:
        low, _, item = value
        return required_literals(item) if low >= 1 else None
    return None


def alternatives(source: str) -> list[str]:
    """The top-level alternatives of a pattern. One that is a group of alternatives after a word boundary
    ("\\b(?:a|b)\\b") is spread over them ("\\b(?:a)\\b", "\\b(?:b)\\b"): a text matches one exactly when it
    matches the other."""
    spread: list[str] = []
    for alternative in _split(source):
        group = _bounded_group(alternative)
        if group is None:
            spread.append(alternative)
        else:
            inner, suffix = group
            spread += [rf"\b(?:{part}){suffix}" for part in _split(inner)]
    return spread


def _bounded_group(alternative: str) -> tuple[str, str] | None:
    """(the group's inside, what follows it) of "\\b(?:...)" or "\\b(?:...)\\b"; None for any other shape."""
    start = r"\b(?:"
    if not alternative.startswith(start):
        return None
    end = _closing(alternative, len(r"\b"))
    rest = alternative[end + 1:]
    return (alternative[len(start):end], rest) if rest in ("", r"\b") else None


def _split(source: str) -> list[str]:
    """`source` cut at its top-level "|"."""
    parts, start = [], 0
    for index, char, depth in _scan(source):
        if char == "|" and depth == 0:
            parts.append(source[start:index])
            start = index + 1
    return [*parts, source[start:]]


def _closing(source: str, opening: int) -> int:
    """The index of the ")" that closes the "(" at `opening`."""
    depth = 0
    for index, char, _ in _scan(source):
        if index < opening:
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return index
    raise ValueError(f"unbalanced group at {opening}")


def _scan(source: str) -> Sequence[tuple[int, str, int]]:
    """(index, character, group depth before it) for each character that is syntax: escapes and character
    classes are stepped over whole."""
    out: list[tuple[int, str, int]] = []
    depth, index = 0, 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(source, index)
            continue
        if char == ")":
            depth -= 1
        out.append((index, char, depth))
        if char == "(":
            depth += 1
        index += 1
    return out


def _class_end(source: str, index: int) -> int:
    """The index after the character class that opens at `index` ("]" first in it, or after "^", is literal)."""
    index += 1
    if source[index:index + 1] == "^":
        index += 1
    if source[index:index + 1] == "]":
        index += 1
    while source[index] != "]":
        index += 2 if source[index] == "\\" else 1
    return index + 1
