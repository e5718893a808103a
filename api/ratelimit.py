"""Per-organization admission: budget, requests/min, tokens/min, per-user requests/min, concurrency.

One Lua script checks and takes every limit in one round trip, so N API processes together admit exactly
the limit. Windows are fixed calendar minutes (exact, cheap; a burst may straddle a boundary).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions

from api.tenancy import OrgPolicy
from common import keys
from common.errors import GatewayError
from common.usage import NANO, period_of

WINDOW_SECONDS = 60

_ADMIT = """
local budget, rpm, tpm, user_rpm, max_conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4]), tonumber(ARGV[5])
local estimate, now_ms, hold_until, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[10]
local spend = tonumber(redis.call('GET', KEYS[5]) or '0')
if budget >= 0 and spend >= budget then return {'budget', spend, 0, 0} end
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
if rpm > 0 and requests >= rpm then return {'rpm', requests, 0, 0} end
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
if tpm > 0 and tokens + estimate > tpm then return {'tpm', requests, tokens, 0} end
if user_rpm > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= user_rpm then
  return {'user_rpm', requests, tokens, 0}
end
local active = 0
if max_conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
  active = redis.call('ZCARD', KEYS[3])
  if active >= max_conc then return {'concurrency', requests, tokens, active} end
  redis.call('ZADD', KEYS[3], hold_until, ARGV[9])
  redis.call('PEXPIREAT', KEYS[3], hold_until + 1000)
  active = active + 1
end
requests = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ttl)
tokens = redis.call('INCRBY', KEYS[2], estimate)
redis.call('EXPIRE', KEYS[2], ttl)
if user_rpm > 0 then
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ttl)
end
return {'ok', requests, tokens, active}
"""

_REFUSALS = {
    "rpm": "requests per minute", "tpm": "tokens per minute", "user_rpm": "requests per minute for this user",
    "concurrency": "concurrent requests",
}


@dataclass(frozen=True)
class Admission:
    policy: OrgPolicy
    requests: int
    tokens: int
    reset_seconds: float
    tokens_key: str
    estimated_tokens: int
    #: what admit() counted in (requests, tokens and, with a user limit, the user's requests): for give_back
    taken_keys: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        return rate_headers(self.policy, self.requests, self.tokens, self.reset_seconds)


def rate_headers(policy: OrgPolicy, requests: int, tokens: int, reset_seconds: float) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers (unlimited limits are left out)."""
    headers = {}
    reset = f"{math.ceil(reset_seconds)}s"
    if policy.rpm:
        headers.update({"x-ratelimit-limit-requests": str(policy.rpm), "x-ratelimit-reset-requests": reset,
                        "x-ratelimit-remaining-requests": str(max(0, policy.rpm - requests))})
    if policy.tpm:
        headers.update({"x-ratelimit-limit-tokens": str(policy.tpm), "x-ratelimit-reset-tokens": reset,
                        "x-ratelimit-remaining-tokens": str(max(0, policy.tpm - tokens))})
    return headers


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._admit = redis.register_script(_ADMIT)
        self._spend: dict[str, tuple[float, float]] = {}

    async def admit(self, policy: OrgPolicy, job_id: str, user_id: str | None, estimated_tokens: int,
                    hold_seconds: float, now: float | None = None) -> Admission:
        """Take one request's share of every limit, or raise 429 / 402 having taken nothing."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        reset = WINDOW_SECONDS - now % WINDOW_SECONDS
        org = policy.organization_id
        if not (policy.rpm or policy.tpm or policy.user_rpm or policy.max_concurrent) \
                and policy.monthly_budget_usd is None:
            return Admission(policy, 0, 0, reset, "", estimated_tokens)  # nothing to check or take: no round trip
        script_keys = [keys.rate_window(org, "req", window), keys.rate_window(org, "tok", window),
                       keys.concurrency(org), keys.rate_window(org, f"user:{user_id or '-'}", window),
                       keys.spend(org, period_of(now))]
        budget = -1 if policy.monthly_budget_usd is None else round(policy.monthly_budget_usd * NANO)
        args = [budget, policy.rpm or 0, policy.tpm or 0, (policy.user_rpm or 0) if user_id else 0,
                policy.max_concurrent or 0, estimated_tokens, int(now * 1000), int((now + hold_seconds) * 1000),
                job_id, WINDOW_SECONDS * 2]
        outcome, requests, tokens, _active = await self._admit(keys=script_keys, args=args)
        outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
        if outcome == "budget":
            raise GatewayError(402, f"organization {org} has spent its monthly budget of "
                               f"${policy.monthly_budget_usd:.2f}; requests resume next month", "budget_exceeded")
        if outcome != "ok":
            retry = reset if outcome != "concurrency" else 1.0
            raise GatewayError(429, f"rate limit reached for {org}: {_REFUSALS[outcome]}", "rate_limit_exceeded",
                               retry_after=retry, headers=rate_headers(policy, int(requests), int(tokens), reset))
        taken = (script_keys[0], script_keys[1], *((script_keys[3],) if args[3] else ()))
        return Admission(policy, int(requests), int(tokens), reset, script_keys[1], estimated_tokens, taken)

    async def give_back(self, admission: Admission, job_id: str) -> None:
        """Undo an admission whose request failed inside the gateway: its requests, tokens and slot."""
        with contextlib.suppress(redis.exceptions.RedisError):
            async with self._redis.pipeline(transaction=False) as pipe:
                for index, key in enumerate(admission.taken_keys):
                    pipe.decrby(key, admission.estimated_tokens if index == 1 else 1)
                pipe.zrem(keys.concurrency(admission.policy.organization_id), job_id)
                await pipe.execute()

    async def release(self, organization_id: str, job_id: str) -> None:
        """Give back the concurrency slot of a request that has ended (slots also expire by themselves, so with
        Redis away the request still gets its answer)."""
        with contextlib.suppress(redis.exceptions.RedisError):
            await self._redis.zrem(keys.concurrency(organization_id), job_id)

    async def spend_usd(self, organization_id: str, now: float | None = None) -> float:
        """This month's spend, cached a second: enough for the soft budget cap (the hard cap is exact)."""
        now = time.time() if now is None else now
        cached = self._spend.get(organization_id)
        if cached and now - cached[0] < 1.0:
            return cached[1]
        raw = await self._redis.get(keys.spend(organization_id, period_of(now)))
        value = int(raw or 0) / NANO
        self._spend[organization_id] = (now, value)
        return value
