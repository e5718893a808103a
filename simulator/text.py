"""Deterministic Portuguese answers and token counts that look like a real tokenizer's."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

_SENTENCES = (
    "Olá! Obrigado pelo contato, fico feliz em ajudar.",
    "Temos esse produto disponível em estoque com entrega para todo o Brasil.",
    "O prazo de entrega é de três a cinco dias úteis para capitais.",
    "Posso verificar as condições de pagamento e parcelamento para você.",
    "Nosso plano anual inclui suporte prioritário e treinamento da equipe.",
    "Se preferir, agendo uma demonstração com um especialista ainda esta semana.",
    "O valor final depende da quantidade de licenças e do período de contrato.",
    "Para esse caso técnico, recomendo atualizar a integração para a versão mais recente.",
    "Entendo sua preocupação e vou encaminhar o caso com prioridade.",
    "Podemos oferecer um desconto especial no fechamento até o fim do mês.",
    "Qualquer dúvida, estou à disposição para continuar a conversa.",
)
_PIECE = re.compile(r"\s*\S+")


def answer_pieces(seed_text: str, tokens: int) -> list[str]:
    """`tokens` text pieces (one token each) of a deterministic answer chosen by `seed_text`."""
    start = int.from_bytes(hashlib.blake2b(seed_text.encode(), digest_size=4).digest(), "big")
    pieces: list[str] = []
    index = start
    while len(pieces) < tokens:
        pieces.extend(_PIECE.findall(" " + _SENTENCES[index % len(_SENTENCES)]))
        index += 1
    pieces = pieces[:tokens]
    if pieces:
        pieces[0] = pieces[0].lstrip()
    return pieces


def default_answer_tokens(seed_text: str) -> int:
    """Between 20 and 60 tokens, fixed for a given prompt."""
    return 20 + hashlib.blake2b(seed_text.encode(), digest_size=1).digest()[0] % 41


def count_text_tokens(text: str) -> int:
    """About four characters a token, as BPE tokenizers give for Portuguese prose."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Chat-format overhead (4 a message, 3 priming) plus the content's tokens."""
    total = 3
    for message in messages:
        total += 4 + count_text_tokens(content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            total += count_text_tokens(str(call))
    return total


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
