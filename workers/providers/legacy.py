"""OpenAI's legacy `functions` / `function_call`, for protocols that only know tools: the answer's first tool call
becomes the `function_call` a legacy client reads (OpenAI itself takes and answers them natively)."""

from __future__ import annotations

from typing import Any


def wants_function_call(body: dict[str, Any]) -> bool:
    return bool(body.get("functions")) and not body.get("tools")


def as_function_call(completion: dict[str, Any]) -> dict[str, Any]:
    """A completion whose tool calls are given back as the legacy `function_call` (one per choice, as OpenAI)."""
    for choice in completion.get("choices") or []:
        message = choice.get("message") or {}
        calls = message.pop("tool_calls", None)
        if calls:
            message["function_call"] = dict(calls[0]["function"])
            if choice.get("finish_reason") == "tool_calls":
                choice["finish_reason"] = "function_call"
    return completion


class FunctionCallChunks:
    """Stream side: `tool_calls` deltas of the first call become `function_call` deltas."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def usage(self) -> dict[str, int] | None:
        return self._inner.usage  # type: ignore[no-any-return]

    def translate(self, event: Any) -> list[dict[str, Any]]:
        chunks = self._inner.translate(event)
        for chunk in chunks:
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                calls = delta.pop("tool_calls", None)
                first = [c for c in calls or [] if c.get("index", 0) == 0]
                if first:
                    delta["function_call"] = {k: v for k, v in first[0].get("function", {}).items()
                                              if k in ("name", "arguments")}
                if choice.get("finish_reason") == "tool_calls":
                    choice["finish_reason"] = "function_call"
        return chunks
