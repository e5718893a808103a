"""Counting a request's usage and cost exactly once: spend, daily breakdowns, audit record, token reconciliation.

One Lua script does it all atomically, guarded by a per-request marker, so a retried or redelivered job
never counts twice and `/ai/usage` always equals the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from common import keys

log = logging.getLogger("tiergate.usage")

NANO = 1_000_000_000
METRICS = ("requests", "prompt_tokens", "completion_tokens", "cost_nusd", "cache_hits", "errors")

_RECORD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return {0, 0, 0} end
if ARGV[11] ~= '' and redis.call('ZREM', KEYS[7], ARGV[11]) == 1 then  -- settle the budget reservation
  redis.call('DECRBY', KEYS[8], ARGV[12])
  if redis.call('ZCARD', KEYS[7]) == 0 then redis.call('DEL', KEYS[8]) end
end
local after = redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
for i = 13, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'record', ARGV[6])
redis.call('XTRIM', KEYS[5], 'MINID', '~', ARGV[10])
if ARGV[9] == '1' and redis.call('EXISTS', KEYS[6]) == 1 then redis.call('INCRBY', KEYS[6], ARGV[8]) end
return {1, after - tonumber(ARGV[2]), after}
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

    def counters(self) -> dict[str, int]:
        """HINCRBY fields: totals, then the same metrics by tier, model and user."""
        values = {"requests": 1, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                  "cost_nusd": self.cost_nusd, "cache_hits": int(self.cache_hit), "errors": int(self.error)}
        dims = [("total", "")]
        dims += [("tier", self.tier), ("model", self.model or "none")]
        if self.user_id:
            dims.append(("user", self.user_id))
        return {counter_field(dim, name, metric): value
                for dim, name in dims for metric, value in values.items() if value}


def counter_field(dim: str, name: str, metric: str) -> str:
    """`total|metric`, or `dim|name|metric` with '|' and '%' in the name escaped: user "alice|requests" stays
    apart from user "alice"."""
    if not name:
        return f"{dim}|{metric}"
    return f"{dim}|{name.replace('%', '%25').replace('|', '%7C')}|{metric}"


_ESCAPED = re.compile("%(25|7C)")


def parse_field(field: str) -> tuple[str, str, str]:
    """(dim, name, metric) of a counter field; name is "" for totals."""
    dim, _, rest = field.partition("|")
    name, _, metric = rest.rpartition("|")
    return dim, _ESCAPED.sub(lambda m: "%" if m.group(1) == "25" else "|", name), metric


@dataclass(frozen=True)
class Recorded:
    counted: bool          # False when this request had already been counted
    spend_before_nusd: int
    spend_after_nusd: int


def audit_min_id(now: float, retention_seconds: float) -> str:
    """Stream ids are milliseconds: records older than the retention sort below this id."""
    return f"{int((now - retention_seconds) * 1000)}-0"


def period_of(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m")


def day_of(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


class UsageRecorder:
    def __init__(self, redis: aioredis.Redis, audit_max_records: int, audit_retention_days: float) -> None:
        self._redis = redis
        self._script = redis.register_script(_RECORD)
        self._audit_max = audit_max_records
        self._retention = audit_retention_days * 86400

    async def record(self, entry: UsageEntry, audit: dict[str, Any], tokens_key: str | None = None,
                     token_delta: int = 0, also: Callable[[Any], None] | None = None,
                     reservation: tuple[str, int] | None = None) -> Recorded:
        """Count a request once, and settle its budget `reservation` (member, nano-USD) in the same step.
        `also` queues the caller's own commands on a pipeline that runs before the script in the same round trip
        (a worker's end-of-job bookkeeping: one round trip per job, not two)."""
        member, reserved = reservation or ("", 0)
        args: list[Any] = [
            7 * 86400, entry.cost_nusd, 40 * 86400, 400 * 86400, entry.organization_id, orjson.dumps(audit),
            self._audit_max, token_delta, 1 if tokens_key else 0, audit_min_id(entry.time, self._retention),
            member, reserved,
        ]
        for field, value in entry.counters().items():
            args += [field, value]
        script_keys = [keys.usage_recorded(entry.request_id), keys.spend(entry.organization_id, period_of(entry.time)),
                       keys.usage_day(entry.organization_id, day_of(entry.time)), keys.USAGE_ORGANIZATIONS,
                       keys.AUDIT_STREAM, tokens_key or keys.usage_recorded(entry.request_id),
                       keys.reservations(entry.organization_id), keys.reserved_total(entry.organization_id)]
        if also is None:
            counted, before, after = await self._script(keys=script_keys, args=args)
            return Recorded(bool(counted), int(before), int(after))
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
        return Recorded(bool(counted), int(before), int(after))
