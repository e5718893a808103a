"""Anthropic Messages API (POST /v1/messages), translated to and from OpenAI chat completions."""

from __future__ import annotations

from typing import Any

import orjson

from common import chat_shapes
from config import Deployment
from workers.providers import shapes
from workers.providers.base import ProviderCall, ProviderError, SSEEvent, classify_status

API_VERSION = "2023-06-01"
#: Anthropic requires max_tokens; 4096 is the output limit of the smallest Claude models.
DEFAULT_MAX_TOKENS = 4096
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "pause_turn": "stop", "refusal": "content_filter"}
#: Error types (in the body) that say more than the status does.
ERROR_KINDS = {"rate_limit_error": "rate_limit", "overloaded_error": "server", "api_error": "server",
               "authentication_error": "auth", "permission_error": "auth", "not_found_error": "not_found",
               "timeout_error": "timeout"}


def request(deployment: Deployment, body: dict[str, Any], stream: bool) -> ProviderCall:
    system, messages = _messages(body.get("messages") or [])
    payload: dict[str, Any] = {"model": deployment.model_id, "messages": messages,
                               "max_tokens": shapes.max_tokens_of(body) or DEFAULT_MAX_TOKENS}
    if system:
        payload["system"] = system
    if body.get("temperature") is not None:
        payload["temperature"] = min(float(body["temperature"]), 1.0)  # OpenAI's range is 0-2, Anthropic's 0-1
    if body.get("top_p") is not None:
        payload["top_p"] = body["top_p"]
    stop = shapes.stop_list(body)
    if stop:
        payload["stop_sequences"] = stop
    if body.get("user"):
        payload["metadata"] = {"user_id": str(body["user"])}
    payload.update(_tools(body))
    if stream:
        payload["stream"] = True
    headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
    if deployment.api_key:
        headers["x-api-key"] = deployment.api_key
    return ProviderCall(f"{deployment.api_base}/v1/messages", headers, payload)


def _messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system, turns = shapes.fold_turns(messages, _blocks, "assistant", "content")
    if turns and turns[0]["role"] == "assistant":
        # Anthropic wants the conversation to open with a user turn (an agent's greeting often comes first).
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(início da conversa)"}]})
    return system, turns


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message.get("role") == "tool":
        return [{"type": "tool_result", "tool_use_id": str(message.get("tool_call_id", "")),
                 "content": shapes.text_of(message.get("content")) or "(vazio)"}]
    blocks = [b for b in (_block(part) for part in shapes.parts_of(message.get("content"))) if b]
    for call in message.get("tool_calls") or []:
        blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": call["function"]["name"],
                       "input": shapes.tool_arguments(call)})
    return blocks


def _block(part: dict[str, Any]) -> dict[str, Any] | None:
    if part.get("type") == "text":
        return {"type": "text", "text": part["text"]} if part.get("text") else None
    if part.get("type") == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        inline = shapes.data_url(url)
        if inline:
            return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None  # audio and files: Anthropic's Messages API has no equivalent part


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = shapes.tools_of(body)
    converted = [{"name": t["function"]["name"], "description": t["function"].get("description", ""),
                  "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
                 for t in tools]
    choice = _tool_choice(shapes.tool_choice_of(body)) if tools else None
    wanted = shapes.response_format(body)
    if wanted is not None:
        # Messages has no JSON mode: the answer is the input of a tool the model must call (or may, beside
        # the caller's own tools); response() hands that input back as the message content.
        converted.append({"name": shapes.RESPONSE_TOOL, "description": f"Answer with {wanted.name}, as JSON.",
                          "input_schema": wanted.schema or {"type": "object"}})
        if not tools:
            choice = {"type": "tool", "name": shapes.RESPONSE_TOOL}
    if not converted:
        return {}
    if body.get("parallel_tool_calls") is False:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return {"tools": converted, **({"tool_choice": choice} if choice else {})}


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and choice.get("function"):
        return {"type": "tool", "name": choice["function"]["name"]}
    return None


def response(deployment: Deployment, data: dict[str, Any]) -> dict[str, Any]:
    content = data.get("content")
    if not isinstance(content, list):
        raise ProviderError("malformed", "answer has no content list")
    texts = [b.get("text", "") for b in content if b.get("type") == "text"]
    uses = [b for b in content if b.get("type") == "tool_use"]
    answer = next((b for b in uses if b.get("name") == shapes.RESPONSE_TOOL), None)
    finish = FINISH_REASONS.get(data.get("stop_reason") or "end_turn", "stop")
    if answer is not None:  # the JSON the request asked for, as OpenAI writes it: the message content
        text, calls, finish = orjson.dumps(answer.get("input") or {}).decode(), [], "stop"
    else:
        calls = [shapes.tool_call(b["id"], b["name"], b.get("input")) for b in uses]
        text = "".join(texts) if texts or not calls else None
    return chat_shapes.completion(deployment.name, str(data.get("id", "")), text, calls, finish,
                             _usage(data.get("usage") or {}))


def _usage(usage: dict[str, Any], output_tokens: int | None = None) -> dict[str, int]:
    # Cached prompt tokens are still prompt tokens for the client's accounting.
    prompt = sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens",
                                                  "cache_read_input_tokens"))
    return chat_shapes.usage(prompt, int(usage.get("output_tokens") or 0) if output_tokens is None else output_tokens)


class AnthropicStreamTranslator:
    """message_start / content_block_* / message_delta / message_stop / ping / error → OpenAI chunks."""

    def __init__(self, deployment: Deployment, completion_id: str, created: int) -> None:
        self._id = chat_shapes.StreamIdentity(completion_id, created, deployment.name)
        self._tool_index: dict[int, int] = {}  # Anthropic content block index → OpenAI tool_calls index
        self._answer_blocks: set[int] = set()  # blocks of the response_format tool: their JSON is the content
        self._prompt_usage: dict[str, Any] = {}
        self.usage: dict[str, int] | None = None

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = shapes.parse_event(event.data)
        kind = data.get("type") or event.event
        if kind == "message_start":
            self._prompt_usage = (data.get("message") or {}).get("usage") or {}
            return [self._id.chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "error":
            raise _stream_error(data.get("error") or {})
        return []  # ping, content_block_stop, message_stop, and event types added later

    def _block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        if block.get("type") != "tool_use":
            return []
        if block.get("name") == shapes.RESPONSE_TOOL:
            self._answer_blocks.add(data.get("index", 0))
            return []
        index = self._tool_index[data.get("index", 0)] = len(self._tool_index)
        return [self._id.chunk({"tool_calls": [{"index": index, "id": block.get("id", ""), "type": "function",
                                                "function": {"name": block.get("name", ""), "arguments": ""}}]})]

    def _block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self._id.chunk({"content": delta.get("text", "")})]
        if delta.get("type") == "input_json_delta" and data.get("index", 0) in self._answer_blocks:
            return [self._id.chunk({"content": delta.get("partial_json", "")})] if delta.get("partial_json") else []
        if delta.get("type") == "input_json_delta" and data.get("index", 0) in self._tool_index:
            index = self._tool_index[data.get("index", 0)]
            return [self._id.chunk({"tool_calls": [{"index": index,
                                                    "function": {"arguments": delta.get("partial_json", "")}}]})]
        return []  # thinking and signature deltas are not part of the OpenAI answer

    def _message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        output = int((data.get("usage") or {}).get("output_tokens") or 0)
        self.usage = _usage(self._prompt_usage, output)
        reason = (data.get("delta") or {}).get("stop_reason")
        if reason == "tool_use" and self._answer_blocks and not self._tool_index:
            reason = "end_turn"  # it called only the response_format tool: for the client, a plain answer
        return [self._id.chunk({}, FINISH_REASONS.get(reason, "stop"))] if reason else []


def stream_translator(deployment: Deployment, completion_id: str, created: int) -> AnthropicStreamTranslator:
    return AnthropicStreamTranslator(deployment, completion_id, created)


def _stream_error(error: dict[str, Any]) -> ProviderError:
    kind = ERROR_KINDS.get(str(error.get("type")), "server")
    return ProviderError(kind, str(error.get("message", "stream error"))[:300])


def error(status: int, payload: Any, headers: dict[str, str]) -> ProviderError:
    message = str(payload)[:300]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = str(payload["error"].get("message") or message)
    if status == 400 and "prompt is too long" in message.lower():
        return ProviderError("context_length", message, status)
    return classify_status(status, message, headers)
