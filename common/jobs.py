"""The job envelope (API → worker, through the Celery queue) and the events on the reply channel
(worker → API, through Redis pub/sub)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from common.budget import reservation_member
from common.redaction import pseudonym

EventType = Literal["start", "result", "end", "error"]


@dataclass
class JobEnvelope:
    """Everything a worker needs to run one completion, and nothing it must not see (no keys)."""

    id: str
    reply_to: str
    tier: str
    models: list[str]
    body: dict[str, Any]
    stream: bool
    deadline: float
    organization_id: str = ""
    include_usage: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    enqueued_at: float = field(default_factory=time.time)
    # For usage and the audit record, which the worker writes once the job has ended:
    received_at: float = 0.0
    key_id: str = ""
    route: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    holds_slot: bool = False      # admission took a concurrency slot, which the API gives back at the end
    tokens_key: str = ""          # the rate-limit window to reconcile with the real token count
    estimated_tokens: int = 0     # the prompt's estimated tokens
    reserved_tokens: int = 0      # what admission took from that window: prompt and completion allowance
    reserved_nusd: int = 0        # what admission held against the budget (common/budget.py), settled once
    budget_usd: float | None = None   # the organization's monthly budget, for threshold alerts
    budget_soft_ratio: float = 0.8
    cache_key: str = ""           # set when the answer may be stored in the response cache
    cache_ttl: int = 0

    @property
    def reservation(self) -> tuple[str, int] | None:
        """The budget reservation the usage record settles: (member, nano-USD), None when none was taken."""
        return (reservation_member(self.id, self.reserved_nusd), self.reserved_nusd) if self.reserved_nusd else None

    @property
    def user_id(self) -> str | None:
        user = self.metadata.get("user_id")
        return pseudonym(str(user)[:128]) if user is not None else None  # as usage, limits and audit store it

    def to_dict(self) -> dict[str, Any]:
        """A shallow dict, for serialising at once: dataclasses.asdict deep-copied the whole prompt each time."""
        return {name: getattr(self, name) for name in _ENVELOPE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobEnvelope:
        return cls(**{k: v for k, v in data.items() if k in _ENVELOPE_FIELDS})

    def remaining(self, now: float | None = None) -> float:
        return self.deadline - (time.time() if now is None else now)


_ENVELOPE_FIELDS = tuple(f.name for f in dataclasses.fields(JobEnvelope))


def encode_event(job_id: str, type_: EventType, **fields: Any) -> bytes:
    """One message on a reply channel: `{"id", "type", ...fields}`.

    - start: `model` — the model that is answering (sent before the first chunk).
    - result: `completion`, `cost` — a whole `chat.completion` (sync jobs).
    - end: `model`, `usage`, `cost`, `finishing` — the stream is complete; `finishing` is its finish_reason
      chunk, held back so that the API sends it last, carrying the cost.
    - error: `status`, `error`, optional `retry_after` — the job failed (see GatewayError.to_event).

    A stream's chunks travel in frames of their own (`encode_sse`).
    """
    return orjson.dumps({"id": job_id, "type": type_, **fields})


#: First byte of a frame of stream chunks; a JSON event starts with "{".
_SSE_FRAME = b"\x00"


def encode_sse(job_id: str, events: bytes) -> bytes:
    """Stream chunks already framed as server-sent events (common/sse.py), which the API relays as they are:
    no JSON decoding and re-encoding per chunk on the busiest path of a stream."""
    return _SSE_FRAME + job_id.encode() + b"\n" + events


def decode_event(raw: bytes | str) -> dict[str, Any]:
    """An event as a dict; a frame of chunks as `{"id", "type": "sse", "data": bytes}`."""
    if isinstance(raw, bytes) and raw[:1] == _SSE_FRAME:
        job_id, _, events = raw[1:].partition(b"\n")
        return {"id": job_id.decode(), "type": "sse", "data": events}
    return orjson.loads(raw)
