"""Counting a request's usage and cost exactly once: the month's spend, the budget reservation's settlement, the
ledger entry (usage and audit record), token reconciliation.

One Lua script does it atomically, guarded by a per-request marker, so a retried or redelivered job never counts
twice. The ledger entry goes on a Redis stream that the ledger writer drains into the database (records/ledger.py),
where `/ai/usage` and the audit trail read it: nothing here waits for the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from common import keys

log = logging.getLogger("tiergate.usage")

NANO = 1_000_000_000

# The spend counter is only added to while it exists: a missing one is seeded from the ledger by the API
# (api/spend.py), and adding to a missing one would start it at zero instead.
_RECORD = """
if KEYS[7] and redis.call('DEL', KEYS[7]) == 0 then return {-1, 0, 0} end  -- the lease's end granted no permit
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return {0, 0, 0} end
if ARGV[7] ~= '' and redis.call('ZREM', KEYS[5], ARGV[7]) == 1 then  -- settle the budget reservation
  redis.call('DECRBY', KEYS[6], ARGV[8])
  if redis.call('ZCARD', KEYS[5]) == 0 then redis.call('DEL', KEYS[6]) end
end
local before, after = 0, 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  after = redis.call('INCRBY', KEYS[2], ARGV[2])
  before = after - tonumber(ARGV[2])
end
redis.call('XADD', KEYS[3], '*', 'usage', ARGV[3], 'audit', ARGV[4])
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then redis.call('INCRBY', KEYS[4], ARGV[5]) end
return {1, before, after}
"""


@dataclass(frozen=True)
class UsageEntry:
    request_id: str
    organization_id: str
    tier: str
    model: str | None
    user_id: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cache_hit: bool
    error: bool
    time: float

    @property
    def cost_nusd(self) -> int:
        return round(self.cost_usd * NANO)

    def ledger_usage(self, audit: dict[str, Any]) -> dict[str, Any]:
        """The ledger row of this request (the key, status and latency as its audit record has them)."""
        return {"request_id": self.request_id, "organization_id": self.organization_id, "user_id": self.user_id,
                "key_id": audit.get("key_id"), "tier": self.tier, "model": self.model,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cost_nusd": self.cost_nusd, "cache_hit": self.cache_hit,
                "status": int(audit.get("status") or (500 if self.error else 200)),
                "latency_ms": float(audit.get("latency_ms") or 0.0), "time": self.time}


@dataclass(frozen=True)
class Recorded:
    counted: bool          # False when this request had already been counted, or its permit was missing
    spend_before_nusd: int
    spend_after_nusd: int


def period_of(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m")


class UsageRecorder:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_RECORD)

    async def record(self, entry: UsageEntry, audit: dict[str, Any], tokens_key: str | None = None,
                     token_delta: int = 0, also: Callable[[Any], None] | None = None,
                     reservation: tuple[str, int] | None = None, permit: str | None = None) -> Recorded:
        """Count a request once, and settle its budget `reservation` (member, nano-USD) in the same step.
        `also` queues the caller's own commands on a pipeline that runs before the script in the same round trip
        (a worker's end-of-job bookkeeping: one round trip per job, not two). With `permit`, count only if that
        key exists (it is consumed): a worker whose lease on the job was taken over has none (common/lease.py)."""
        member, reserved = reservation or ("", 0)
        args: list[Any] = [7 * 86400, entry.cost_nusd, orjson.dumps(entry.ledger_usage(audit)), orjson.dumps(audit),
                           token_delta, 1 if tokens_key else 0, member, reserved]
        script_keys = [keys.usage_recorded(entry.request_id), keys.spend(entry.organization_id, period_of(entry.time)),
                       keys.LEDGER_STREAM, tokens_key or keys.usage_recorded(entry.request_id),
                       keys.reservations(entry.organization_id), keys.reserved_total(entry.organization_id)]
        if permit:
            script_keys.append(permit)
        if also is None:
            counted, before, after = await self._script(keys=script_keys, args=args)
            return Recorded(counted == 1, int(before), int(after))
        # EVALSHA queued by hand: redis-py's pipelined scripts cost a SCRIPT EXISTS round trip per execute.
        async with self._redis.pipeline(transaction=False) as pipe:
            also(pipe)
            pipe.evalsha(self._script.sha, len(script_keys), *script_keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        for reply in replies[:-1]:
            if isinstance(reply, Exception):
                log.warning("a command pipelined with the usage of %s failed: %s", entry.request_id, reply)
        reply = replies[-1]
        if isinstance(reply, NoScriptError):  # Redis restarted or flushed its scripts: load it and run it alone
            reply = await self._script(keys=script_keys, args=args)
        elif isinstance(reply, Exception):
            raise reply
        counted, before, after = reply
        return Recorded(counted == 1, int(before), int(after))
