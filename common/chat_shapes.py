"""The OpenAI chat wire shapes tiergate answers with, defined once: `chat.completion`, its choices and usage,
and `chat.completion.chunk` (the provider adapters build them; the cache and the stream relay replay them)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamIdentity:
    """What every chunk of one answer carries: our completion id, creation time and the model name."""

    id: str
    created: int
    model: str

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0,
              logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}]}

    def usage_chunk(self, usage: dict[str, int] | None) -> dict[str, Any]:
        """The choice-less chunk `stream_options.include_usage` asks for."""
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage}


def completion(model: str, response_id: str, content: str | None, tool_calls: list[dict[str, Any]],
               finish_reason: str, usage: dict[str, int] | None, created: int | None = None) -> dict[str, Any]:
    """A `chat.completion` with one choice (the gateway sets the final id)."""
    return completion_of(model, response_id, [choice(0, content, tool_calls, finish_reason)], usage, created)


def completion_of(model: str, response_id: str, choices: list[dict[str, Any]], usage: dict[str, int] | None,
                  created: int | None = None) -> dict[str, Any]:
    """A `chat.completion` with these choices (the gateway sets the final id)."""
    return {"id": response_id, "object": "chat.completion", "created": int(time.time()) if created is None else created,
            "model": model, "choices": choices, "usage": usage}


def choice(index: int, content: str | None, tool_calls: list[dict[str, Any]], finish_reason: str,
           logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}


def usage(prompt: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}
