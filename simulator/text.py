"""Deterministic Portuguese answers and token counts that look like a real tokenizer's."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from common.tokens import content_text, prompt_tokens
from common.tokens import text_tokens as count_text_tokens

__all__ = ["answer_pieces", "content_text", "count_text_tokens", "default_answer_tokens", "json_pieces",
           "prompt_tokens", "token_logprobs"]

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


def json_pieces(text: str) -> list[str]:
    """JSON text in token-sized pieces (about four characters, as tokenizers cut JSON)."""
    return [text[i:i + 4] for i in range(0, len(text), 4)]


def token_logprobs(piece: str, top: int) -> dict[str, Any]:
    """OpenAI's logprob entry for one token: a deterministic log probability and `top` alternatives (the token
    itself first, as a real model's most likely token)."""
    score = -(hashlib.blake2b(piece.encode(), digest_size=1).digest()[0] % 100) / 50

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    alternatives = [entry(piece, score)] + [entry(f"{piece.strip() or '_'}{i}", score - i) for i in range(1, top)]
    return {**entry(piece, score), "top_logprobs": alternatives[:top]}
