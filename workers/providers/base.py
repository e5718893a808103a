"""What an adapter is: three pure translations and an error mapping. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from config import Deployment


@dataclass(frozen=True)
class ProviderCall:
    """One HTTP request to a provider, fully described."""

    url: str
    headers: dict[str, str]
    json: dict[str, Any]


@dataclass(frozen=True)
class SSEEvent:
    event: str | None
    data: str


class ProviderError(Exception):
    """A failed provider call, classified for the retry/fallback logic.

    kind: "rate_limit" | "server" | "timeout" | "connection" | "auth" | "bad_request" | "not_found"
          | "context_length" | "malformed"
    """

    RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "malformed"})

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in self.RETRYABLE

    def describe(self) -> str:
        return f"{self.kind}{f' {self.status}' if self.status else ''}: {self.message}"[:300]


class StreamTranslator(Protocol):
    """Turns a provider's stream events into OpenAI `chat.completion.chunk` dicts; keeps the usage it sees."""

    usage: dict[str, int] | None

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]: ...


class Adapter(Protocol):
    def request(self, deployment: Deployment, body: dict[str, Any], stream: bool) -> ProviderCall: ...

    def response(self, deployment: Deployment, data: dict[str, Any]) -> dict[str, Any]: ...

    def stream_translator(self, deployment: Deployment, completion_id: str, created: int) -> StreamTranslator: ...

    def error(self, status: int, payload: Any, headers: dict[str, str]) -> ProviderError: ...


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify_status(status: int, message: str, headers: dict[str, str]) -> ProviderError:
    """The HTTP status → error kind mapping every protocol shares; adapters refine it (context length)."""
    if status == 429:
        return ProviderError("rate_limit", message, status, retry_after_seconds(headers))
    if status in (401, 403):
        return ProviderError("auth", message, status)
    if status == 404:
        return ProviderError("not_found", message, status)
    if status in (408, 504):
        return ProviderError("timeout", message, status, retry_after_seconds(headers))
    if status >= 500:
        return ProviderError("server", message, status, retry_after_seconds(headers))
    if "context" in message.lower() and ("length" in message.lower() or "window" in message.lower()):
        return ProviderError("context_length", message, status)
    return ProviderError("bad_request", message, status)
