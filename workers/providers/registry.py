"""Which adapter speaks which protocol. Adding a provider: one module, one line here."""

from __future__ import annotations

from typing import cast

from workers.providers import anthropic, gemini, openai_compat
from workers.providers.base import Adapter

_ADAPTERS: dict[str, Adapter] = {
    "openai": cast(Adapter, openai_compat),
    "anthropic": cast(Adapter, anthropic),
    "gemini": cast(Adapter, gemini),
}


def adapter_for(protocol: str) -> Adapter:
    try:
        return _ADAPTERS[protocol]
    except KeyError:
        raise ValueError(f"no adapter for protocol {protocol!r}") from None
