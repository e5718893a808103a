"""Gemini generateContent and streamGenerateContent?alt=sse, as generativelanguage.googleapis.com writes them."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request

from simulator.engine import SimAnswer, SimRequest, sse
from simulator.text import count_text_tokens, token_logprobs
from simulator.tools import planned_call, sample_json

name = "gemini"

FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def parse(request: Request, body: dict[str, Any]) -> SimRequest:
    model, _, action = request.path_params["target"].partition(":")
    if action not in ("generateContent", "streamGenerateContent"):
        raise ValueError(f"unknown method {action!r}")
    contents = body["contents"]
    if not isinstance(contents, list) or not contents:
        raise ValueError("contents: must be a non-empty list")
    last_user = next((_text(c) for c in reversed(contents) if c.get("role", "user") == "user" and _text(c)), "")
    config = body.get("generationConfig") or {}
    tool_call = _tool_call_for(body, contents)
    return SimRequest(
        model=model, seed_text=model + "|" + last_user, last_user_text=last_user,
        prompt_tokens=_prompt_tokens(body), max_tokens=config.get("maxOutputTokens"),
        stream=action == "streamGenerateContent", tool_call=tool_call, id=uuid.uuid4().hex[:22],
        n=int(config.get("candidateCount") or 1), stop=list(config.get("stopSequences") or []),
        logprobs=bool(config.get("responseLogprobs")), top_logprobs=int(config.get("logprobs") or 0),
        answer_json=_answer_json(config) if tool_call is None else None,
    )


def _answer_json(config: dict[str, Any]) -> str | None:
    if config.get("responseMimeType") != "application/json":
        return None
    # Protobuf JSON takes either spelling; responseJsonSchema is plain JSON Schema, responseSchema OpenAPI's.
    schema = next((config[k] for k in ("responseSchema", "response_schema", "responseJsonSchema",
                                       "response_json_schema") if config.get(k)), None)
    return sample_json(schema)


def _text(content: dict[str, Any]) -> str:
    return " ".join(str(p["text"]) for p in content.get("parts") or [] if isinstance(p, dict) and "text" in p)


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = count_text_tokens(_text(body.get("systemInstruction") or {}))
    for content in body["contents"]:
        total += count_text_tokens(orjson.dumps(content.get("parts") or []).decode())
    return max(1, total)


def _tool_call_for(body: dict[str, Any], contents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With functions declared and the last turn not a function response, call the allowed (or first) one."""
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    answered = any("functionResponse" in p for p in contents[-1].get("parts") or [])
    if not declarations or config.get("mode") == "NONE" or answered:
        return None
    allowed = config.get("allowedFunctionNames") or []
    declaration = next((d for d in declarations if d.get("name") in allowed), declarations[0])
    # Protobuf JSON accepts both spellings, and the google-genai SDK sends the snake_case one.
    schema = next((declaration[k] for k in ("parameters", "parametersJsonSchema", "parameters_json_schema")
                   if declaration.get(k)), None)
    return planned_call(declaration.get("name", "tool"), schema, "")


def _usage(req: SimRequest, answers: list[SimAnswer]) -> dict[str, Any]:
    output = sum(a.completion_tokens for a in answers) + (8 if req.tool_call else 0)
    return {"promptTokenCount": req.prompt_tokens, "candidatesTokenCount": output,
            "totalTokenCount": req.prompt_tokens + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": req.prompt_tokens}]}


def _candidate(req: SimRequest, choice: int, parts: list[dict[str, Any]], finish: str | None,
               pieces: list[str]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": choice}
    if finish:
        candidate["finishReason"] = finish
    if req.logprobs and pieces:
        entries = [token_logprobs(p, req.top_logprobs) for p in pieces]
        candidate["avgLogprobs"] = sum(e["logprob"] for e in entries) / len(entries)
        candidate["logprobsResult"] = {
            "topCandidates": [{"candidates": [_token(t) for t in e["top_logprobs"]]} for e in entries],
            "chosenCandidates": [_token(e) for e in entries]}
    return candidate


def _token(entry: dict[str, Any]) -> dict[str, Any]:
    return {"token": entry["token"], "logProbability": entry["logprob"]}


def _response(req: SimRequest, candidates: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"candidates": candidates, "modelVersion": req.model, "responseId": req.id}
    if usage:
        data["usageMetadata"] = usage
    return data


def _call_part(req: SimRequest) -> dict[str, Any]:
    assert req.tool_call is not None
    return {"functionCall": {"name": req.tool_call["name"], "args": orjson.loads(req.tool_call["arguments"])}}


def whole(req: SimRequest, answers: list[SimAnswer]) -> dict[str, Any]:
    candidates = [_candidate(req, choice, [_call_part(req)] if req.tool_call else [{"text": a.text}],
                             FINISH_REASONS[a.finish_reason], a.pieces) for choice, a in enumerate(answers)]
    return _response(req, candidates, _usage(req, answers))


def stream_start(req: SimRequest) -> list[bytes]:
    if not req.tool_call:
        return []
    return [sse(_response(req, [_candidate(req, c, [_call_part(req)], None, []) for c in range(req.n)], None))]


def stream_piece(req: SimRequest, piece: str, index: int, choice: int = 0) -> bytes:
    return sse(_response(req, [_candidate(req, choice, [{"text": piece}], None, [piece])], None))


def stream_end(req: SimRequest, answers: list[SimAnswer]) -> list[bytes]:
    candidates = [_candidate(req, choice, [{"text": ""}], FINISH_REASONS[a.finish_reason], [])
                  for choice, a in enumerate(answers)]
    return [sse(_response(req, candidates, _usage(req, answers)))]


def error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": STATUSES.get(status, "UNKNOWN")}}


def malformed() -> bytes:
    return b'{"candidates": [{"content": {"parts": [{'


def too_long(prompt_tokens: int, limit: int) -> dict[str, Any]:
    return error(400, f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens allowed "
                      f"({limit}).")
