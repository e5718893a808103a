"""The `x-gateway-*` headers every answer carries."""

from __future__ import annotations

import unicodedata

from routing import RouteDecision


def ascii_header(text: str, limit: int = 512) -> str:
    """Header values are latin-1 on the wire; reasons may hold accents (pt/es). Keep them readable ASCII."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c if 32 <= ord(c) < 127 else " " for c in folded)[:limit]


def gateway_headers(request_id: str, decision: RouteDecision, model: str, cache: str = "MISS") -> dict[str, str]:
    return {
        "x-request-id": request_id,
        "x-gateway-tier": decision.tier,
        "x-gateway-model": model,
        "x-gateway-route-reason": ascii_header(decision.reason_text()),
        "x-gateway-cache": cache,
    }
