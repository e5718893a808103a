"""The response cache's key and entry, shared by the API (lookup, coalescing) and the workers (fill).

The key covers the organization (no answer crosses organizations), the resolved tier and model, the
messages and every parameter that changes the output; parameters that do not (stream, user, metadata)
are left out so a stream and a sync request share an entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from common import chat_shapes
from common.errors import GatewayError

#: Body fields that never change the answer.
_NOT_IN_KEY = frozenset({"stream", "stream_options", "user", "metadata", "cache", "timeout", "store",
                         "service_tier", "safety_identifier", "prompt_cache_key"})


@dataclass(frozen=True)
class CacheControl:
    """What a request allows: LiteLLM's per-request `cache: {"no-cache", "no-store", "ttl"}`."""

    read: bool
    write: bool
    ttl: int | None

    @classmethod
    def from_request(cls, control: Any, temperature: Any, enabled: bool, default_ttl: int) -> CacheControl:
        """Off unless caching is enabled; by default only repeatable requests (temperature 0) use it,
        others when they send a `cache` object."""
        if control is not None and not isinstance(control, dict):
            raise GatewayError(400, "cache: must be an object like {\"no-cache\": true, \"ttl\": 600}",
                               "invalid_request", "cache")
        if not enabled:
            return cls(False, False, None)
        repeatable = temperature == 0 or control is not None
        control = control or {}
        ttl = control.get("ttl", default_ttl)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise GatewayError(400, "cache.ttl: must be a positive integer of seconds", "invalid_request",
                               "cache.ttl")
        return cls(repeatable and not control.get("no-cache"), repeatable and not control.get("no-store"), ttl)

    @property
    def used(self) -> bool:
        return self.read or self.write


def cache_key(organization_id: str, tier: str, model: str, body: dict[str, Any]) -> str:
    material = {"org": organization_id, "tier": tier, "model": model,
                "body": {k: v for k, v in body.items() if k not in _NOT_IN_KEY}}
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


def completion_from_stream(model: str, text: str, finish_reason: str | None, usage: dict[str, int] | None,
                           created: int) -> dict[str, Any]:
    """The `chat.completion` a text stream amounts to, for the cache."""
    return chat_shapes.completion(model, "", text, [], finish_reason or "stop", usage, created)
