"""`n` answers from a provider that gives one per call: the request is sent n times (with n=1) and the answers
are merged into one completion, or one stream, with the choices numbered 0..n-1 and the usage summed."""

from __future__ import annotations

from typing import Any

from config import Deployment
from workers.providers.base import Adapter, SSEEvent, StreamTranslator
from workers.providers.legacy import FunctionCallChunks, wants_function_call


def fan_out(deployment: Deployment, body: dict[str, Any]) -> int:
    """How many calls the request needs: n when the deployment has no native `n`, else 1."""
    n = body.get("n") or 1
    return n if n > 1 and "n" not in deployment.capabilities else 1


def single(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "n": 1}


def merge(completions: list[dict[str, Any]]) -> dict[str, Any]:
    """One completion holding every answer's choices, renumbered, with the usage of all the calls."""
    merged = {**completions[0], "choices": []}
    for position, completion in enumerate(completions):
        for choice in completion.get("choices") or []:
            merged["choices"].append({**choice, "index": position})
    merged["usage"] = sum_usage([c.get("usage") for c in completions])
    return merged


def sum_usage(usages: list[dict[str, Any] | None]) -> dict[str, int] | None:
    found = [u for u in usages if u]
    if not found:
        return None
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: sum(int(u.get(k) or 0) for u in found) for k in keys}


class FanOutTranslator:
    """One translator per call; `translate_part` numbers each call's choices by the call."""

    def __init__(self, parts: list[StreamTranslator]) -> None:
        self.parts = parts

    @property
    def usage(self) -> dict[str, int] | None:
        return sum_usage([p.usage for p in self.parts])

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        return self.translate_part(0, event)

    def translate_part(self, position: int, event: SSEEvent) -> list[dict[str, Any]]:
        chunks = self.parts[position].translate(event)
        for chunk in chunks:
            for choice in chunk.get("choices") or []:
                choice["index"] = position
        return chunks


def stream_translator(adapter: Adapter, deployment: Deployment, body: dict[str, Any], completion_id: str,
                      created: int) -> StreamTranslator:
    """The translator of one job's stream: the adapter's, one per call when fanned out, legacy functions kept."""
    legacy = wants_function_call(body) and deployment.protocol != "openai"

    def one() -> StreamTranslator:
        translator = adapter.stream_translator(deployment, completion_id, created)
        return FunctionCallChunks(translator) if legacy else translator

    calls = fan_out(deployment, body)
    return one() if calls == 1 else FanOutTranslator([one() for _ in range(calls)])
