"""OpenAI-compatible chat completions: OpenAI, Together, Groq, Ollama, vLLM, any `api_base`."""

from __future__ import annotations

from typing import Any

import orjson

from config import Deployment
from workers.providers.base import ProviderCall, ProviderError, SSEEvent, classify_status

#: Request fields an OpenAI-compatible server understands (every documented chat completion parameter, the
#: legacy `functions`/`function_call` too); the rest of the body is tiergate's own.
PASSTHROUGH = frozenset({
    "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "seed", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "functions", "function_call", "reasoning_effort", "service_tier",
    "store", "prediction", "prompt_cache_key", "safety_identifier", "verbosity", "modalities", "audio",
    "web_search_options",
})


def request(deployment: Deployment, body: dict[str, Any], stream: bool) -> ProviderCall:
    payload = {k: v for k, v in body.items() if k in PASSTHROUGH}
    payload["model"] = deployment.model_id
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}  # always: cost needs the usage
    headers = {"content-type": "application/json"}
    if deployment.api_key:
        headers["authorization"] = f"Bearer {deployment.api_key}"
    return ProviderCall(f"{deployment.api_base}/chat/completions", headers, payload)


def response(deployment: Deployment, data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("choices"), list):
        raise ProviderError("malformed", "answer has no choices")
    data["model"] = deployment.name
    data.setdefault("object", "chat.completion")
    return data


class OpenAIStreamTranslator:
    def __init__(self, deployment: Deployment, completion_id: str, created: int) -> None:
        self._model = deployment.name
        self._id = completion_id
        self._created = created
        self.usage: dict[str, int] | None = None

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        if event.data == "[DONE]":
            return []
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            raise ProviderError("malformed", f"stream event is not JSON: {event.data[:80]!r}") from exc
        if "error" in chunk:
            raise ProviderError("server", str(chunk["error"].get("message", chunk["error"]))[:300])
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if not chunk.get("choices"):
            return []
        chunk.pop("usage", None)
        chunk["id"], chunk["model"], chunk["created"] = self._id, self._model, self._created
        return [chunk]


def stream_translator(deployment: Deployment, completion_id: str, created: int) -> OpenAIStreamTranslator:
    return OpenAIStreamTranslator(deployment, completion_id, created)


def error(status: int, payload: Any, headers: dict[str, str]) -> ProviderError:
    message = str(payload)[:300]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = str(payload["error"].get("message") or message)
        if payload["error"].get("code") == "context_length_exceeded":
            return ProviderError("context_length", message, status)
    return classify_status(status, message, headers)
