"""Google Gemini generateContent / streamGenerateContent, translated to and from OpenAI chat completions."""

from __future__ import annotations

import re
import uuid
from typing import Any

from common import chat_shapes
from config import Deployment
from workers.providers import shapes
from workers.providers.base import ProviderCall, ProviderError, SSEEvent, classify_status

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
                  "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
                  "IMAGE_SAFETY": "content_filter"}
#: JSON Schema keywords OpenAI tools use that Gemini's OpenAPI subset refuses with a 400.
UNSUPPORTED_SCHEMA_KEYS = frozenset({
    "additionalProperties", "$schema", "strict", "$defs", "definitions", "$ref", "$id", "$comment", "examples",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems", "patternProperties",
    "unevaluatedProperties", "dependentRequired", "not", "if", "then", "else", "contentEncoding",
    "contentMediaType", "readOnly", "writeOnly", "deprecated", "const"})
_CONTEXT_ERROR = re.compile(r"(input token count|exceeds the maximum number of tokens|too many tokens)", re.I)


def request(deployment: Deployment, body: dict[str, Any], stream: bool) -> ProviderCall:
    system, contents = _contents(body.get("messages") or [])
    payload: dict[str, Any] = {"contents": contents}
    if system:
        payload["systemInstruction"] = {"parts": [{"text": system}]}
    config = _generation_config(body)
    if config:
        payload["generationConfig"] = config
    payload.update(_tools(body))
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    headers = {"content-type": "application/json"}
    if deployment.api_key:
        headers["x-goog-api-key"] = deployment.api_key
    return ProviderCall(f"{deployment.api_base}/v1beta/models/{deployment.model_id}:{action}", headers, payload)


def _contents(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    # A functionResponse names its function; OpenAI's tool message only has the call id.
    names = {call.get("id"): call["function"]["name"]
             for m in messages for call in (m.get("tool_calls") or []) if m.get("role") == "assistant"}
    return shapes.fold_turns(messages, lambda m: _parts(m, names), "model", "parts")


def _parts(message: dict[str, Any], names: dict[Any, str]) -> list[dict[str, Any]]:
    if message.get("role") == "tool":
        name = names.get(message.get("tool_call_id")) or message.get("name") or "tool"
        return [{"functionResponse": {"name": name,
                                      "response": {"content": shapes.text_of(message.get("content"))}}}]
    parts = [p for p in (_part(part) for part in shapes.parts_of(message.get("content"))) if p]
    for call in message.get("tool_calls") or []:
        parts.append({"functionCall": {"name": call["function"]["name"], "args": shapes.tool_arguments(call)}})
    return parts


def _part(part: dict[str, Any]) -> dict[str, Any] | None:
    if part.get("type") == "text":
        return {"text": part["text"]} if part.get("text") else None
    if part.get("type") == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        inline = shapes.data_url(url)
        if inline:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
        return {"fileData": {"mimeType": "image/jpeg", "fileUri": url}}
    if part.get("type") == "input_audio":
        audio = part.get("input_audio") or {}
        return {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}}
    return None


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    max_tokens = shapes.max_tokens_of(body)
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = shapes.stop_list(body)
    if stop:
        config["stopSequences"] = stop
    wanted = shapes.response_format(body)
    if wanted is not None:
        config["responseMimeType"] = "application/json"
        if wanted.schema is not None:
            config["responseSchema"] = _schema(wanted.schema)
    if body.get("n") and body["n"] > 1:
        config["candidateCount"] = body["n"]
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs"):
            config["logprobs"] = body["top_logprobs"]
    return config


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = shapes.tools_of(body)
    if not tools:
        return {}
    declarations = []
    for tool in tools:
        function = tool["function"]
        declaration = {"name": function["name"], "description": function.get("description", "")}
        if function.get("parameters"):
            declaration["parameters"] = _schema(function["parameters"])
        declarations.append(declaration)
    result: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = _tool_config(shapes.tool_choice_of(body))
    if choice:
        result["toolConfig"] = {"functionCallingConfig": choice}
    return result


def _schema(schema: Any) -> Any:
    """A JSON Schema in the OpenAPI subset Gemini takes: references inlined, `[X, null]` types as `nullable`."""
    return _openapi(shapes.resolve_refs(schema))


def _openapi(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_openapi(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: _openapi(v) for k, v in schema.items() if k not in UNSUPPORTED_SCHEMA_KEYS}
    if "const" in schema and "enum" not in result:  # a discriminator's fixed value
        result["enum"] = [schema["const"]]
    kinds = result.get("type")
    if isinstance(kinds, list):  # ["string", "null"]
        others = [k for k in kinds if k != "null"]
        result["type"] = others[0] if others else "string"
        if "null" in kinds:
            result["nullable"] = True
    options = result.get("anyOf")
    if isinstance(options, list) and any(o == {"type": "null"} for o in options):
        rest = [o for o in options if o != {"type": "null"}]
        result.pop("anyOf")
        result.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        result["nullable"] = True
    return result


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice == "required":
        return {"mode": "ANY"}
    if choice == "none":
        return {"mode": "NONE"}
    if isinstance(choice, dict) and choice.get("function"):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    return None


def response(deployment: Deployment, data: dict[str, Any]) -> dict[str, Any]:
    candidates = data.get("candidates")
    if candidates is None and not data.get("promptFeedback"):
        raise ProviderError("malformed", "answer has no candidates")
    if not candidates:  # the prompt itself was blocked
        choices = [chat_shapes.choice(0, "", [], "content_filter")]
    else:
        choices = [_choice(position, candidate) for position, candidate in enumerate(candidates)]
    return chat_shapes.completion_of(deployment.name, str(data.get("responseId", "")), choices,
                                _usage(data.get("usageMetadata") or {}))


def _choice(position: int, candidate: dict[str, Any]) -> dict[str, Any]:
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    calls = [_call(p["functionCall"]) for p in parts if "functionCall" in p]
    return chat_shapes.choice(int(candidate.get("index") or position), text if text or not calls else None, calls,
                         _finish(candidate.get("finishReason"), bool(calls)), _logprobs(candidate))


def _logprobs(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """`logprobsResult` (chosen tokens, and the top alternatives at each step) in OpenAI's shape."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    tops = result.get("topCandidates") or []
    content = []
    for step, chosen in enumerate(result.get("chosenCandidates") or []):
        alternatives = (tops[step] if step < len(tops) else {}).get("candidates") or []
        content.append({**_token(chosen), "top_logprobs": [_token(a) for a in alternatives]})
    return {"content": content, "refusal": None}


def _token(candidate: dict[str, Any]) -> dict[str, Any]:
    token = str(candidate.get("token", ""))
    return {"token": token, "logprob": float(candidate.get("logProbability") or 0.0),
            "bytes": list(token.encode())}


def _call(function_call: dict[str, Any]) -> dict[str, Any]:
    # Gemini's calls may lack ids; OpenAI clients need one to send the result back.
    call_id = function_call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
    return shapes.tool_call(call_id, function_call.get("name", ""), function_call.get("args"))


def _finish(reason: str | None, called: bool) -> str:
    if called and reason in (None, "STOP"):
        return "tool_calls"  # Gemini says STOP after a function call; OpenAI clients look for tool_calls
    return FINISH_REASONS.get(reason or "STOP", "stop")


def _usage(metadata: dict[str, Any]) -> dict[str, int]:
    completion = int(metadata.get("candidatesTokenCount") or 0) + int(metadata.get("thoughtsTokenCount") or 0)
    return chat_shapes.usage(int(metadata.get("promptTokenCount") or 0), completion)


class GeminiStreamTranslator:
    """Each SSE event is a partial GenerateContentResponse: text parts, whole function calls, a finish reason."""

    def __init__(self, deployment: Deployment, completion_id: str, created: int) -> None:
        self._id = chat_shapes.StreamIdentity(completion_id, created, deployment.name)
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate index → function calls streamed so far
        self.usage: dict[str, int] | None = None

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = shapes.parse_event(event.data)
        if isinstance(data.get("error"), dict):
            raise error(int(data["error"].get("code") or 500), data, {})
        if data.get("usageMetadata"):
            self.usage = _usage(data["usageMetadata"])
        chunks: list[dict[str, Any]] = []
        for position, candidate in enumerate(data.get("candidates") or [{}]):
            chunks.extend(self._candidate(int(candidate.get("index") or position), candidate))
        return chunks

    def _candidate(self, index: int, candidate: dict[str, Any]) -> list[dict[str, Any]]:
        chunks = [] if index in self._started else [self._id.chunk({"role": "assistant", "content": ""}, None, index)]
        self._started.add(index)
        logprobs = _logprobs(candidate)
        for part in (candidate.get("content") or {}).get("parts") or []:
            if part.get("text") and not part.get("thought"):
                chunks.append(self._id.chunk({"content": part["text"]}, None, index, logprobs))
                logprobs = None
            elif "functionCall" in part:
                call = _call(part["functionCall"])
                calls = self._calls.get(index, 0)
                chunks.append(self._id.chunk({"tool_calls": [{"index": calls, **call}]}, None, index))
                self._calls[index] = calls + 1
        if candidate.get("finishReason"):
            chunks.append(self._id.chunk({}, _finish(candidate["finishReason"], index in self._calls), index))
        return chunks


def stream_translator(deployment: Deployment, completion_id: str, created: int) -> GeminiStreamTranslator:
    return GeminiStreamTranslator(deployment, completion_id, created)


def error(status: int, payload: Any, headers: dict[str, str]) -> ProviderError:
    message, reasons, retry_delay = str(payload)[:300], "", None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = str(payload["error"].get("message") or message)
        details = payload["error"].get("details") or []
        reasons = " ".join(str(d.get("reason", "")) for d in details if isinstance(d, dict))
        retry_delay = next((d.get("retryDelay") for d in details if isinstance(d, dict) and d.get("retryDelay")),
                           None)
    if "API_KEY_INVALID" in reasons:  # Gemini answers a bad key with 400, not 401
        return ProviderError("auth", message, status)
    if status == 400 and _CONTEXT_ERROR.search(message):
        return ProviderError("context_length", message, status)
    found = classify_status(status, message, headers)
    if found.kind == "rate_limit" and found.retry_after is None and retry_delay:
        found.retry_after = _seconds(str(retry_delay))
    return found


def _seconds(duration: str) -> float | None:
    """A protobuf Duration as JSON ("30s", "1.5s") in seconds."""
    try:
        return float(duration.removesuffix("s"))
    except ValueError:
        return None
