"""Per-organization admission: budget, requests/min, tokens/min, per-user requests/min, concurrency.

One Lua script checks and takes every limit in one round trip, so N API processes together admit exactly
the limit. Windows are fixed calendar minutes (exact, cheap; a burst may straddle a boundary).

Money and tokens are reserved, not estimated: a request takes its prompt plus its completion allowance from the
tokens window and its most expensive outcome from the budget (common/budget.py), and the usage record settles
both to the actual figures. A reservation whose request never settles it (its worker and API both lost) expires
RESERVATION_GRACE seconds after the request's deadline.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions

from api.tenancy import OrgPolicy
from common import keys
from common.budget import Reservation, format_usd, left_usd, reservation_member
from common.budget_alerts import BudgetAlerts
from common.errors import GatewayError
from common.usage import NANO, period_of

WINDOW_SECONDS = 60
#: How long past its request's deadline an unsettled reservation holds the budget. A worker settles within
#: moments of the deadline (it runs the job under it) and a dead worker's jobs are rescued within seconds.
RESERVATION_GRACE = 60

_ADMIT = """
local budget, rpm, tpm, user_rpm, max_conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4]), tonumber(ARGV[5])
local want, now_ms, hold_until, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[10]
local cost, member, expires = tonumber(ARGV[11]), ARGV[12], tonumber(ARGV[13])
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local spend, reserved = 0, 0
if budget >= 0 then
  local spent = redis.call('GET', KEYS[5])
  if not spent then return {'unseeded', requests, tokens, 0, 0} end  -- api/spend.py starts it from the ledger
  spend = tonumber(spent)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now_ms)
  if #expired > 0 then  -- reservations whose requests vanished give their amount back
    local freed = 0
    for _, m in ipairs(expired) do freed = freed + tonumber(string.match(m, '^(%d+):')) end
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now_ms)
    redis.call('DECRBY', KEYS[7], freed)
    if redis.call('ZCARD', KEYS[6]) == 0 then redis.call('DEL', KEYS[7]) end
  end
  reserved = tonumber(redis.call('GET', KEYS[7]) or '0')
  if spend + reserved + cost > budget then return {'budget', requests, tokens, spend, reserved} end
end
if rpm > 0 and requests >= rpm then return {'rpm', requests, tokens, spend, reserved} end
-- An empty window admits one request even when its allowance alone is over the limit (else it never could).
if tpm > 0 and tokens > 0 and tokens + want > tpm then return {'tpm', requests, tokens, spend, reserved} end
if user_rpm > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= user_rpm then
  return {'user_rpm', requests, tokens, spend, reserved}
end
if max_conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[3]) >= max_conc then return {'concurrency', requests, tokens, spend, reserved} end
  redis.call('ZADD', KEYS[3], hold_until, ARGV[9])
  redis.call('PEXPIREAT', KEYS[3], hold_until + 1000)
end
requests = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ttl)
tokens = redis.call('INCRBY', KEYS[2], want)
redis.call('EXPIRE', KEYS[2], ttl)
if user_rpm > 0 then
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ttl)
end
if budget >= 0 and cost > 0 then
  redis.call('ZADD', KEYS[6], expires, member)
  reserved = redis.call('INCRBY', KEYS[7], cost)
end
return {'ok', requests, tokens, spend, reserved}
"""

#: Give back one reservation unless its request has settled it already (the usage script does the same).
RELEASE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('DECRBY', KEYS[2], ARGV[2])
  if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
end
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
    reserved_tokens: int    # taken from the tokens window
    reserved_nusd: int      # held against the budget (0 when the plan has no budget)
    #: what admit() counted in (requests, tokens and, with a user limit, the user's requests): for give_back
    taken_keys: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        return rate_headers(self.policy, self.requests, self.tokens, self.reset_seconds)


def rate_headers(policy: OrgPolicy, requests: int, tokens: int, reset_seconds: float) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers from the window's counters as they stand (unlimited limits are left out)."""
    headers = {}
    reset = f"{math.ceil(reset_seconds)}s"
    if policy.rpm:
        headers.update({"x-ratelimit-limit-requests": str(policy.rpm), "x-ratelimit-reset-requests": reset,
                        "x-ratelimit-remaining-requests": str(max(0, policy.rpm - requests))})
    if policy.tpm:
        headers.update({"x-ratelimit-limit-tokens": str(policy.tpm), "x-ratelimit-reset-tokens": reset,
                        "x-ratelimit-remaining-tokens": str(max(0, policy.tpm - tokens))})
    return headers


#: Sets an organization's month spend counter from the ledger (api/spend.py); False when it could not.
SeedSpend = Callable[[str, float], Awaitable[bool]]


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, alerts: BudgetAlerts, seed_spend: SeedSpend) -> None:
        self._redis = redis
        self._seed_spend = seed_spend
        self._admit = redis.register_script(_ADMIT)
        self._release = redis.register_script(RELEASE)
        self._alerts = alerts

    async def admit(self, policy: OrgPolicy, job_id: str, user_id: str | None, reservation: Reservation,
                    hold_seconds: float, now: float | None = None) -> Admission:
        """Take one request's share of every limit and reserve its most expensive outcome, or raise 429 / 402
        having taken nothing."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        reset = WINDOW_SECONDS - now % WINDOW_SECONDS
        org = policy.organization_id
        budgeted = policy.monthly_budget_usd is not None
        if not (policy.rpm or policy.tpm or policy.user_rpm or policy.max_concurrent or budgeted):
            return Admission(policy, 0, 0, reset, "", 0, 0)  # nothing to check or take: no round trip
        script_keys = [keys.rate_window(org, "req", window), keys.rate_window(org, "tok", window),
                       keys.concurrency(org), keys.user_rate_window(org, user_id or "", window),
                       keys.spend(org, period_of(now)), keys.reservations(org), keys.reserved_total(org)]
        budget = round(policy.monthly_budget_usd * NANO) if policy.monthly_budget_usd is not None else -1
        cost = reservation.cost_nusd if budgeted else 0
        args = [budget, policy.rpm or 0, policy.tpm or 0, (policy.user_rpm or 0) if user_id else 0,
                policy.max_concurrent or 0, reservation.tokens, int(now * 1000), int((now + hold_seconds) * 1000),
                job_id, WINDOW_SECONDS * 2, cost, reservation_member(job_id, cost),
                int((now + hold_seconds + RESERVATION_GRACE) * 1000)]
        outcome, requests, tokens, spend, reserved = await self._admit(keys=script_keys, args=args)
        outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
        if outcome == "unseeded":  # Redis has no spend for this month: start it from the ledger, then admit
            if not await self._seed_spend(org, now):
                args[0] = budget = -1  # nor does the database answer: the limits hold, the budget waits for it
            outcome, requests, tokens, spend, reserved = await self._admit(keys=script_keys, args=args)
            outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
        headers = rate_headers(policy, int(requests), int(tokens), reset)
        if outcome == "budget":
            self._alerts.raise_soon(org, "hard", int(spend) / NANO, policy.monthly_budget_usd or 0.0)
            raise GatewayError(402, budget_refusal(org, budget, int(spend), int(reserved), cost), "budget_exceeded",
                               headers=headers)
        if outcome != "ok":
            message = f"rate limit reached for {org}: {_REFUSALS[outcome]}"
            if outcome == "tpm":
                message += (f"; {max(0, (policy.tpm or 0) - int(tokens))} of {policy.tpm} tokens are left this minute "
                            f"and this request may use up to {reservation.tokens} (its prompt and max_tokens)")
            raise GatewayError(429, message, "rate_limit_exceeded", retry_after=reset if outcome != "concurrency"
                               else 1.0, headers=headers)
        taken = (script_keys[0], script_keys[1], *((script_keys[3],) if args[3] else ()))
        return Admission(policy, int(requests), int(tokens), reset, script_keys[1], reservation.tokens, cost,
                         taken)

    async def give_back(self, admission: Admission, job_id: str) -> None:
        """Undo an admission whose request failed inside the gateway: its requests, tokens, slot and reservation."""
        org = admission.policy.organization_id
        with contextlib.suppress(redis.exceptions.RedisError):
            async with self._redis.pipeline(transaction=False) as pipe:
                for index, key in enumerate(admission.taken_keys):
                    pipe.decrby(key, admission.reserved_tokens if index == 1 else 1)
                pipe.zrem(keys.concurrency(org), job_id)
                await pipe.execute()
            if admission.reserved_nusd:
                await self._release(keys=[keys.reservations(org), keys.reserved_total(org)],
                                    args=[reservation_member(job_id, admission.reserved_nusd), admission.reserved_nusd])

    async def release(self, organization_id: str, job_id: str) -> None:
        """Give back the concurrency slot of a request that has ended (slots also expire by themselves, so with
        Redis away the request still gets its answer)."""
        with contextlib.suppress(redis.exceptions.RedisError):
            await self._redis.zrem(keys.concurrency(organization_id), job_id)

    async def current_headers(self, policy: OrgPolicy, now: float | None = None) -> dict[str, str]:
        """The x-ratelimit-* headers of a request refused before admission: the windows as they stand."""
        if not (policy.rpm or policy.tpm):
            return {}
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        org = policy.organization_id
        try:
            requests, tokens = await self._redis.mget([keys.rate_window(org, "req", window),
                                                       keys.rate_window(org, "tok", window)])
        except redis.exceptions.RedisError:
            return {}
        return rate_headers(policy, int(requests or 0), int(tokens or 0), WINDOW_SECONDS - now % WINDOW_SECONDS)

    async def spend_usd(self, organization_id: str, now: float | None = None) -> float:
        """This month's settled spend: the counter admission checks, read as it stands."""
        now = time.time() if now is None else now
        raw = await self._redis.get(keys.spend(organization_id, period_of(now)))
        if raw is None and await self._seed_spend(organization_id, now):
            raw = await self._redis.get(keys.spend(organization_id, period_of(now)))
        return int(raw or 0) / NANO

    async def reserved_usd(self, organization_id: str) -> float:
        """What the organization's requests in flight hold against its budget."""
        return int(await self._redis.get(keys.reserved_total(organization_id)) or 0) / NANO


def budget_refusal(organization_id: str, budget_nusd: int, spent_nusd: int, reserved_nusd: int, cost_nusd: int) -> str:
    """The 402 message: how much is left, and why this request does not fit in it."""
    budget = format_usd(budget_nusd / NANO)
    if spent_nusd >= budget_nusd:
        return (f"organization {organization_id} has spent its monthly budget of {budget}; "
                "requests resume next month")
    left = format_usd(left_usd(budget_nusd, spent_nusd, reserved_nusd))
    held = f", {format_usd(reserved_nusd / NANO)} of it held by requests in flight" if reserved_nusd else ""
    return (f"organization {organization_id} has {left} left of its monthly budget of {budget}{held}; this "
            f"request may cost up to {format_usd(cost_nusd / NANO)} (its prompt, and max_tokens at the output "
            "price of the dearest model it may use): set a lower max_tokens, or retry when requests in flight end")
