"""Cost of a call from its usage and the model's per-token prices."""

from __future__ import annotations

from typing import Any


def usage_cost(usage: dict[str, Any] | None, input_cost_per_token: float, output_cost_per_token: float) -> float:
    """USD cost of one call; rounded to 1e-9 so sums stay exact to the cent."""
    if not usage:
        return 0.0
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return round(prompt * input_cost_per_token + completion * output_cost_per_token, 9)


def partial_stream_usage(prompt_estimate: int, chunks: int) -> dict[str, int]:
    """The usage of a stream cut short, which never got the provider's count: the prompt as estimated at
    admission and one token per chunk relayed (providers stream about a token per chunk)."""
    return {"prompt_tokens": prompt_estimate, "completion_tokens": chunks, "total_tokens": prompt_estimate + chunks}
