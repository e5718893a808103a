"""Text normalisation and keyword matching, shared by intent detection and complexity analysis.

Matching works on a normalised form: lowercase, no accents, punctuation and emoji turned into spaces, letters
repeated three times or more, or a doubled vowel ending a word, collapsed ("oiii", "holaa"), single spaces, padded with one space each side.
A keyword is then a plain substring test, which is fast enough to run hundreds per turn well under 0.1 ms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_NON_WORD = re.compile(r"[^a-z0-9$%]+")
_REPEATS = re.compile(r"([a-z])\1{2,}|([aeiou])\2\b")


def _accent_table() -> dict[int, str]:
    """Map every accented Latin letter to its base letter once, so `str.translate` does it per turn."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if base != char and base.isascii():
            table[code] = base
    table[ord("ß")] = "ss"
    return table


_ACCENTS = _accent_table()


def _single(match: re.Match[str]) -> str:
    return match.group(1) or match.group(2)


def fold(text: str) -> str:
    """Lowercase without accents, punctuation kept (numbers like "2.000" stay whole)."""
    return text.lower().translate(_ACCENTS)


def normalise(text: str, folded: str | None = None) -> str:
    """The padded matching form of `text` (see the module docstring); pass `folded` when already computed."""
    words = _NON_WORD.sub(" ", fold(text) if folded is None else folded)
    return " " + _REPEATS.sub(_single, words).strip() + " "


@dataclass(frozen=True)
class KeywordSet:
    """Keywords compiled to substring needles: `word` matches the whole word, `stem*` any word starting so.

    Phrases ("bom dia", "se eu fech*") work the same way. Keywords are normalised like the text, so the config
    may write them with or without accents.
    """

    needles: tuple[tuple[str, str], ...]

    @classmethod
    def compile(cls, keywords: Iterable[str]) -> KeywordSet:
        needles: dict[str, str] = {}
        for keyword in keywords:
            stem = keyword.endswith("*")
            core = normalise(keyword.removesuffix("*")).strip()
            if core:
                needles[" " + core + ("" if stem else " ")] = keyword
        return cls(tuple(needles.items()))

    def matches(self, padded: str) -> list[str]:
        """The configured keywords found in an already normalised text."""
        return [keyword for needle, keyword in self.needles if needle in padded]

    def count(self, padded: str) -> int:
        return sum(1 for needle, _ in self.needles if needle in padded)


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
