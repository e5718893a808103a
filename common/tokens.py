"""Token estimates without a tokenizer: about four characters a token, as BPE tokenizers give for pt/es/en."""

from __future__ import annotations

import math
from typing import Any


def text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Chat-format overhead (4 a message, 3 priming) plus the content's tokens."""
    total = 3
    for message in messages:
        total += 4 + text_tokens(content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            total += text_tokens(str(call))
    return total
