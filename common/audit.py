"""The audit record: one per request, accepted or refused, with no key and no unmasked personal data."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from common import keys
from common.jobs import JobEnvelope
from common.redaction import messages_for_audit, pseudonym, redact_value
from common.usage import UsageEntry

#: Obvious prompt-injection phrasings (pt/es/en); flagged in the record, blocked only when configured.
_INJECTION = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|the\s+)?(previous|prior|above)\s+(instructions|prompts?|rules)"
    r"|ignore\s+(as\s+|todas\s+as\s+)?instru[cç][oõ]es\s+anteriores|esque[cç]a\s+(as\s+|todas\s+as\s+)?instru"
    r"|ignora\s+(las\s+)?instrucciones\s+anteriores|you\s+are\s+now\s+(dan|in\s+developer\s+mode)"
    r"|(reveal|show|print|mostre|revele)\s+(me\s+)?(your|the|seu|o)\s+(system\s+prompt|prompt\s+do\s+sistema)",
    re.IGNORECASE,
)


def injection_suspected(messages: list[dict[str, Any]]) -> bool:
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else orjson.dumps(content).decode() if content else ""
        if message.get("role") in ("user", "tool") and _INJECTION.search(text):
            return True
    return False


#: Fields the gateway itself wrote (ids, numbers, names of models): the only ones not passed through redaction.
_GATEWAY_FIELDS = frozenset({"time", "request_id", "accepted", "status", "organization_id", "key_id", "model",
                             "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "cache_hit", "stream"})


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """The record as it may be stored: every string it holds, at any depth, with personal data masked —
    prompts, answers, tool arguments, metadata, user and conversation ids, error messages, route reasons."""
    return {k: v if k in _GATEWAY_FIELDS else redact_value(v) for k, v in record.items()}


def _user(user_id: Any) -> str | None:
    """The user id as usage and rate limits know it (common/jobs.py JobEnvelope.user_id)."""
    return pseudonym(str(user_id)[:128]) if user_id is not None else None


def refusal_record(request_id: str, status: int, code: str | None, message: str, *, organization_id: str | None,
                   key_id: str | None, metadata: dict[str, Any] | None = None,
                   messages: list[dict[str, Any]] | None = None, content_mode: str = "redacted",
                   flags: list[str] | None = None, route: dict[str, Any] | None = None) -> dict[str, Any]:
    metadata = metadata or {}
    return masked({
        "time": time.time(), "request_id": request_id, "accepted": False, "status": status,
        "error": {"code": code, "message": message[:300]}, "organization_id": organization_id,
        "user_id": _user(metadata.get("user_id")), "conversation_id": metadata.get("conversation_id"),
        "key_id": key_id,
        "route": route, "attempts": [], "model": None, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
        "latency_ms": 0.0, "cache_hit": False, "metadata": metadata, "flags": flags or [],
        "messages": messages_for_audit(messages) if messages and content_mode == "redacted" else None,
        "answer": None,
    })


def accepted_record(job: JobEnvelope, entry: UsageEntry, status: int, *, attempts: list[dict[str, Any]],
                    answer: str | None, content_mode: str) -> dict[str, Any]:
    """The record of a request that was accepted (answered by a worker or from the cache)."""
    with_content = content_mode == "redacted"
    return masked({
        "time": entry.time, "request_id": job.id, "accepted": True, "status": status,
        "organization_id": job.organization_id, "user_id": job.user_id,
        "conversation_id": job.metadata.get("conversation_id"), "key_id": job.key_id, "route": job.route,
        "attempts": attempts, "model": entry.model, "prompt_tokens": entry.prompt_tokens,
        "completion_tokens": entry.completion_tokens, "cost_usd": entry.cost_usd,
        "latency_ms": round((entry.time - (job.received_at or job.enqueued_at)) * 1000, 1),
        "cache_hit": entry.cache_hit, "stream": job.stream, "metadata": job.metadata,
        "flags": job.flags, "messages": messages_for_audit(job.body.get("messages") or []) if with_content else None,
        "answer": answer if with_content else None,
    })


async def append_audit(redis: aioredis.Redis, record: dict[str, Any]) -> None:
    """A record with no usage (a refused request) joins the ledger stream, which the ledger writer drains into the
    database (records/ledger.py); it is never trimmed, so nothing is dropped while the database is away."""
    await redis.xadd(keys.LEDGER_STREAM, {"audit": orjson.dumps(record)})
