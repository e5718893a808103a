"""Mask personal data before it is stored: CPF, CNPJ, e-mail, phone and card numbers."""

from __future__ import annotations

import re
from typing import Any

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("[EMAIL]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("[CNPJ]", re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b")),
    # A phone with Brazil's country code before cards: "+55 11 91234-5678" is 13 digits, card-length.
    ("[PHONE]", re.compile(r"(?<![\w+])\+?55[\s-]?\(?\d{2}\)?[\s-]?9?\d{4}[\s-]?\d{4}\b")),
    ("[CARD]", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("[CPF]", re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b")),
    ("[PHONE]", re.compile(r"\(?\b\d{2}\)?[\s-]?9?\d{4}[\s-]?\d{4}\b")),
)


def redact(text: str) -> str:
    """The text with personal data replaced by placeholders; order matters (CNPJ, phone with +55, card, CPF)."""
    for placeholder, pattern in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


def redact_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the audit trail keeps them: role and redacted text only."""
    kept = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        kept.append({"role": message.get("role"), "content": redact(content) if isinstance(content, str) else None})
    return kept
