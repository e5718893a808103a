"""What a chat request needs of a model (tools, JSON schema, vision, ...), for the router to pick one that has it.

Capability names are config/settings.py's CAPABILITY_KEYS values; each maps to the request parameter that needs
it, so a refusal can name it.
"""

from __future__ import annotations

from typing import Any

from api.validation import ChatRequest

#: Content part type → the capability it needs.
_PART_NEEDS = {"image_url": "vision", "input_audio": "audio_input"}


def request_needs(chat: ChatRequest) -> dict[str, str]:
    body = chat.body
    needs: dict[str, str] = {}
    if body.get("tools"):
        needs["function_calling"] = "tools"
    elif body.get("functions"):
        needs["function_calling"] = "functions"
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        needs["response_schema"] = "response_format"
    if body.get("logprobs"):
        needs["logprobs"] = "logprobs"
    if chat.stream and chat.include_usage:
        needs["stream_usage"] = "stream_options.include_usage"
    needs.update(_content_needs(chat.messages))
    return needs


def _content_needs(messages: list[dict[str, Any]]) -> dict[str, str]:
    needs: dict[str, str] = {}
    for index, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for position, part in enumerate(content):
            capability = _PART_NEEDS.get(part.get("type")) if isinstance(part, dict) else None
            if capability and capability not in needs:
                needs[capability] = f"messages[{index}].content[{position}]"
    return needs
