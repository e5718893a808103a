"""Text normalisation and keyword matching, shared by intent detection and complexity analysis.

Matching works on a normalised form: lowercase, no accents, punctuation and emoji turned into spaces, letters
repeated three times or more, or a doubled vowel ending a word, collapsed ("oiii", "holaa"; in messages up to 200
characters), single spaces, padded with one space each side.
Keywords are then looked up word by word (see Vocabulary).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Folded text is ASCII: everything but letters, digits, $ and % becomes a space.
_KEPT = {c for c in range(128) if chr(c).isalnum() or chr(c) in "$%"}
_SPACES = str.maketrans({chr(c): " " for c in range(128) if c not in _KEPT})
#: The same table for bytes: an ASCII text translates several times faster as bytes than as str.
_SPACES_BYTES = bytes(c if c in _KEPT or c >= 128 else ord(" ") for c in range(256))
#: Elongations ("oiii", "holaa") are a short-message habit; the regex is the costliest step on long texts.
_ELONGATION_MAX_CHARS = 200
_TRIPLES = re.compile(r"([a-z])\1{2,}")
_FINAL_DOUBLE_VOWEL = re.compile(r"([aeiou])\1\b")
#: What each regex needs to find anything: a few substring tests cost less than the regex trying every position.
_TRIPLE_LETTERS = tuple(chr(c) * 3 for c in range(ord("a"), ord("z") + 1))
_DOUBLE_VOWELS = ("aa", "ee", "ii", "oo", "uu")


#: Characters of a long turn that are read: its head and its tail say what it is about, and reading no more keeps a
#: routing decision's cost bounded whatever the message's length.
HEAD_CHARS, TAIL_CHARS = 160, 80


@dataclass(frozen=True, slots=True)
class TurnText:
    """A turn's text as the router reads it, computed once per decision: `read` is the head and the tail of a long
    turn (the whole of a short one), `folded` (see fold) and `padded` (see normalise) are read's; `text` is the
    whole turn."""

    text: str
    read: str
    folded: str
    padded: str


def read_text(text: str) -> TurnText:
    read = head(text, HEAD_CHARS) + " " + tail(text, TAIL_CHARS) if len(text) > HEAD_CHARS + TAIL_CHARS else text
    folded = fold(read)
    return TurnText(text, read, folded, normalise(read, folded))


def head(text: str, chars: int) -> str:
    """At most `chars` characters from the start, ending at a word's end where one is near: a cut word reads as
    another ("15 mil" cut to "15 mi" is millions)."""
    if len(text) <= chars or text[chars].isspace():
        return text[:chars]
    cut = text[:chars]
    space = cut.rfind(" ")
    return cut[:space] if space > chars // 2 else cut


def tail(text: str, chars: int) -> str:
    """At most `chars` characters from the end, starting at a word's start where one is near."""
    if len(text) <= chars or text[-chars - 1].isspace():
        return text[-chars:]
    cut = text[-chars:]
    space = cut.find(" ")
    return cut[space + 1:] if 0 <= space < chars // 2 else cut


def fold(text: str) -> str:
    """Lowercase ASCII without accents, punctuation kept (numbers like "2.000" stay whole); emoji dropped."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def normalise(text: str, folded: str | None = None) -> str:
    """The padded matching form of `text` (see the module docstring); pass `folded` when already computed."""
    words = " ".join(_spaced(fold(text) if folded is None else folded).split())
    if len(words) <= _ELONGATION_MAX_CHARS:
        words = _collapse_elongations(words)
    return " " + words + " "


def _spaced(folded: str) -> str:
    """`folded.translate(_SPACES)`; as bytes when ASCII (fold's output always is), which is faster."""
    if folded.isascii():
        return folded.encode("ascii").translate(_SPACES_BYTES).decode("ascii")
    return folded.translate(_SPACES)


def _collapse_elongations(words: str) -> str:
    """Triple letters to one ("oiii"), then a doubled vowel ending a word ("holaa"); each regex only runs when the
    text holds what it needs, which most texts do not."""
    if _holds_any(words, _TRIPLE_LETTERS):
        words = _TRIPLES.sub(r"\1", words)
    if _holds_any(words, _DOUBLE_VOWELS):
        words = _FINAL_DOUBLE_VOWEL.sub(r"\1", words)
    return words


def _holds_any(text: str, parts: tuple[str, ...]) -> bool:
    # a plain loop: any() over a generator costs more than the substring tests themselves
    for part in parts:  # noqa: SIM110
        if part in text:
            return True
    return False


#: In a keyword, a word of its own that matches any number: "faz # por #" matches "faz 3 por 100".
NUMBER = "#"

#: What one scan of a text found: keyword set key -> the configured keywords present, in order of appearance.
Found = dict[str, list[str]]


@dataclass(frozen=True)
class KeywordSet:
    """A handle on one configured keyword list inside a Vocabulary; reads what `Vocabulary.scan` found."""

    key: str

    def matches(self, found: Found) -> list[str]:
        return found.get(self.key, [])

    def count(self, found: Found) -> int:
        return len(found.get(self.key, ()))


@dataclass(slots=True)
class _Entry:
    rest: list[str]  # the words after the first one; the last may be a stem
    stem: bool
    key: str
    keyword: str
    plain: bool  # no stem and no number placeholder: the rest compares as a plain list
    second: str | None  # the word that must come next, when it is a plain word (a cheap first test)


class Vocabulary:
    """Every keyword list of the config, indexed by first word so one pass over a text finds all of them.

    `word` matches that whole word, `stem*` any word starting so, and a phrase ("bom dia", "se eu fech*") its
    words in a row; only the last word may be a stem, and `#` after the first word stands for any number.
    Keywords are normalised like the text, so the config may write them with or without accents. A scan costs a
    few dictionary look-ups per word of the text, whatever the number of keywords.
    """

    def __init__(self) -> None:
        self._exact: dict[str, list[_Entry]] = {}
        self._stems: dict[str, list[tuple[str, _Entry]]] = {}  # first two letters -> (stem, entry)
        self._seen: set[tuple[str | bool, ...]] = set()

    def add(self, key: str, keywords: Iterable[str]) -> KeywordSet:
        for keyword in keywords:
            stem = keyword.endswith("*")
            if "*" in keyword.removesuffix("*"):
                raise ValueError(f"{key}: {keyword!r}: only the last word may end with *")
            words = [word for part in keyword.removesuffix("*").split()
                     for word in ([NUMBER] if part == NUMBER else normalise(part).split())]
            if not words or words[0] == NUMBER:
                raise ValueError(f"{key}: {keyword!r}: empty, or starts with {NUMBER}")
            if (key, stem, *words) in self._seen:  # "oii" and "oi" normalise alike: count the word once
                continue
            self._seen.add((key, stem, *words))
            second = words[1] if len(words) > 1 and words[1] != NUMBER and not (stem and len(words) == 2) else None
            entry = _Entry(words[1:], stem, key, keyword, not stem and NUMBER not in words, second)
            if stem and len(words) == 1:
                if len(words[0]) < 2:
                    raise ValueError(f"{key}: {keyword!r}: a stem needs at least two letters")
                self._stems.setdefault(words[0][:2], []).append((words[0], entry))
            else:
                self._exact.setdefault(words[0], []).append(entry)
        return KeywordSet(key)

    def scan(self, padded: str) -> Found:
        words = padded.split()
        found: Found = {}
        exact, stems = self._exact.get, self._stems.get
        last = len(words) - 1
        for position, word in enumerate(words):
            entries = exact(word)
            if entries:
                following = words[position + 1] if position < last else None
                for entry in entries:
                    if not entry.rest or ((entry.second is None or entry.second == following)
                                          and _follows(words, position + 1, entry)):
                        _record(found, entry)
            candidates = stems(word[:2])
            if candidates:
                for stem, entry in candidates:
                    if word.startswith(stem):
                        _record(found, entry)
        return found


def _follows(words: list[str], start: int, entry: _Entry) -> bool:
    """The entry's remaining words come next in `words` (the last one as a prefix when a stem)."""
    end = start + len(entry.rest)
    if end > len(words):
        return False
    tail = words[start:end]
    if entry.plain:
        return tail == entry.rest
    last = len(tail) - 1
    return all(word == want or (want == NUMBER and word.isdigit()) or (entry.stem and i == last and
                                                                        word.startswith(want))
               for i, (word, want) in enumerate(zip(tail, entry.rest, strict=True)))


def _record(found: Found, entry: _Entry) -> None:
    keywords = found.setdefault(entry.key, [])
    if entry.keyword not in keywords:
        keywords.append(entry.keyword)


def user_texts(messages: list[dict[str, Any]]) -> list[str]:
    """The text of every user message, oldest first (content parts joined; images ignored)."""
    texts = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.append(" ".join(str(p.get("text", "")) for p in content if isinstance(p, dict)))
    return texts
