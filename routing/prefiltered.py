"""Whether a long alternation matches a text, found faster than `re` finds it, with the same answer.

Python's `re` tries every alternative of a pattern at every position of the text: the counter-offer pattern has
over a hundred, and reading it took half of a routing decision on long turns. Here each top-level alternative is
compiled on its own with the literal strings it cannot match without (one of "desconto", "discount"; "barato"),
read from the parsed pattern. One Aho-Corasick pass finds which of those literals a text holds, and only their
alternatives run. An alternative without such a literal runs on every text. A match needs its literal, so no
alternative that could match is skipped: the answer is `re`'s. That holds for case-sensitive, non-verbose
patterns without back-references, which is what the constructor accepts: under IGNORECASE a literal may be
written in another case, in VERBOSE mode a "|" may sit in a comment, and splitting renumbers groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
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
RequiredLiterals = frozenset[str] | None
_REFUSED_FLAGS = re.IGNORECASE | re.VERBOSE
_BACK_REFERENCES = (sre.GROUPREF, sre.GROUPREF_EXISTS)
#: Items that match no character: a leading one does not move where a match starts.
_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


class PrefilteredPattern:
    """`found_in(text)` is `bool(pattern.search(text))`."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        _refuse_unsupported(pattern)
        self.pattern = pattern
        self._alternatives: list[re.Pattern[str]] = []
        unfiltered: list[str] = []
        #: literal -> (its length, alternatives to search for, alternatives that start with it, tried where it is)
        by_literal: dict[str, tuple[int, list[int], list[int]]] = {}
        for source in alternatives(pattern.pattern):
            parsed = sre_parse.parse(source, pattern.flags)
            literals, anchored = leading_literals(parsed), True
            required = required_literals(parsed)
            if literals is None or (required is not None and min(map(len, required)) > min(map(len, literals))):
                literals, anchored = required, False
            if literals is None:
                unfiltered.append(source)
                continue
            for literal in literals:
                _, searched, started = by_literal.setdefault(literal, (len(literal), [], []))
                (started if anchored else searched).append(len(self._alternatives))
            self._alternatives.append(re.compile(source, pattern.flags))
        self._unfiltered = re.compile("|".join(f"(?:{s})" for s in unfiltered), pattern.flags) if unfiltered else None
        self._automaton = ahocorasick.Automaton()
        for literal, (length, searched, started) in by_literal.items():
            self._automaton.add_word(literal, (length, tuple(searched), tuple(started)))
        if by_literal:
            self._automaton.make_automaton()

    def found_in(self, text: str) -> bool:
        if self._unfiltered is not None and self._unfiltered.search(text):
            return True
        if not self._alternatives:
            return False
        searched: set[int] = set()
        for end, (length, to_search, starting) in self._automaton.iter(text):
            for index in starting:  # a match of these starts where the literal does: one attempt, there
                if self._alternatives[index].match(text, end - length + 1):
                    return True
            for index in to_search:
                if index not in searched:
                    searched.add(index)
                    if self._alternatives[index].search(text):
                        return True
        return False


def _refuse_unsupported(pattern: re.Pattern[str]) -> None:
    """ValueError for a pattern whose alternatives could not be prefiltered exactly (see the module docstring)."""
    if pattern.flags & _REFUSED_FLAGS:
        raise ValueError("prefiltered patterns must be case-sensitive and not verbose")
    for op, value in _walk(sre_parse.parse(pattern.pattern, pattern.flags)):
        if op in _BACK_REFERENCES:
            raise ValueError("prefiltered patterns must not refer back to a group")
        if op is sre.SUBPATTERN and (value[1] or value[2]):
            raise ValueError("prefiltered patterns must not set flags inside a group")


def _walk(items: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """Every node of a parsed pattern (a conditional's branches aside: the conditional itself is refused)."""
    for op, value in items:
        yield op, value
        if op is sre.SUBPATTERN:
            yield from _walk(value[3])
        elif op is sre.BRANCH:
            for branch in value[1]:
                yield from _walk(branch)
        elif op in _REPEATS:
            yield from _walk(value[2])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            yield from _walk(value[1])


def required_literals(items: Iterable[tuple[Any, Any]]) -> RequiredLiterals:
    """The most selective requirement of a parsed sequence: a run of literal characters, or what a group, a set
    of alternatives or a repeat of at least once requires; the one whose shortest string is longest."""
    items = list(items)
    # prefixes from where a literal run, a group or a set of alternatives starts; one from inside a run is the same
    # strings shortened, never the more selective
    candidates = [frozenset(_prefixes(items[i:])[0]) for i in range(len(items))
                  if items[i][0] in (sre.LITERAL, sre.BRANCH, sre.SUBPATTERN)
                  and not (i and items[i][0] is sre.LITERAL and items[i - 1][0] is sre.LITERAL)]
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


def leading_literals(items: Iterable[tuple[Any, Any]]) -> RequiredLiterals:
    """The literal strings one of which every match starts with (after its zero-width assertions: a word boundary,
    a lookbehind), so a match can be tried where the literal is found; None when they are unknown or too short."""
    items = list(items)
    start = next((i for i, (op, _) in enumerate(items) if op not in _ZERO_WIDTH), len(items))
    if start == len(items) or items[start][0] not in (sre.LITERAL, sre.BRANCH, sre.SUBPATTERN):
        return None
    prefixes = frozenset(_prefixes(items[start:])[0])
    return prefixes if min(map(len, prefixes)) >= _MIN_LITERAL else None


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


def _required_by(op: Any, value: Any) -> RequiredLiterals:
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
    """(the group's inside, what follows it) of "\\b(?:...)" or "\\b(?:...)\\b"; None for any other shape (another
    suffix would have to follow each part; such an alternative is left whole)."""
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
    """(index, character, depth) for each character that is syntax, the depth being the number of groups open
    around it ("(" and ")" count as outside their own group). Escapes and character classes are stepped over
    whole."""
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
