"""The cost of budget reservations alone, away from HTTP noise: Python CPU per request of working the reservation out,
and Redis CPU per call of the admission script with and without a budget, and of the usage script that settles.

    .venv/bin/python -m benchmarks.reservation_bench [--requests 20000]

Starts a private redis-server; Redis's own `INFO commandstats` gives the microseconds per script call.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import redis.asyncio as aioredis

from api.ratelimit import RateLimiter
from api.tenancy import OrgPolicy
from common.budget import asked_completion_tokens, reservation_for
from common.budget_alerts import BudgetAlerts
from common.tokens import prompt_tokens
from common.usage import UsageEntry, UsageRecorder
from config import load_settings
from tests.harness import RedisProcess

LIMITS = {"plan": "p", "max_tier": 4, "rpm": 10**9, "tpm": 10**12, "max_concurrent": None, "user_rpm": None,
          "budget_soft_ratio": 0.8, "budget_soft_max_tier": 3}


async def _seeded(organization_id: str, now: float) -> bool:
    return True


async def _script_usec(redis: aioredis.Redis) -> float:
    stats = await redis.info("commandstats")
    calls = sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    usec = sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return usec / max(calls, 1)


async def _admissions(redis: aioredis.Redis, policy: OrgPolicy, count: int, settle: bool) -> tuple[float, float]:
    """Redis µs per admission script call and per settlement call."""
    limiter = RateLimiter(redis, BudgetAlerts(redis, None), _seeded)
    recorder = UsageRecorder(redis)
    settings = load_settings()
    deployments = settings.deployments()
    chain = [deployments[n] for n in ("tier4/gpt-4-turbo", "tier4/claude-opus", "tier3/claude-sonnet")]
    await redis.set(f"tiergate:spend:{policy.organization_id}:{time.strftime('%Y-%m', time.gmtime())}", 0)
    await redis.config_resetstat()
    jobs = []
    for _ in range(count):
        job_id = uuid.uuid4().hex
        admission = await limiter.admit(policy, job_id, None, reservation_for(30, 100, chain), hold_seconds=30)
        jobs.append((job_id, admission))
    admit_usec = await _script_usec(redis)
    if not settle:
        return admit_usec, 0.0
    await redis.config_resetstat()
    for job_id, admission in jobs:
        entry = UsageEntry(request_id=job_id, organization_id=policy.organization_id, tier="tier4",
                           model="tier4/gpt-4-turbo", user_id=None, prompt_tokens=30, completion_tokens=100,
                           cost_usd=0.0033, cache_hit=False, error=False, time=time.time())
        member = (f"{admission.reserved_nusd}:{job_id}", admission.reserved_nusd) if admission.reserved_nusd else None
        await recorder.record(entry, {"request_id": job_id}, admission.tokens_key, 0, reservation=member)
    return admit_usec, await _script_usec(redis)


def _python_usec(count: int) -> float:
    settings = load_settings()
    deployments = settings.deployments()
    chain = [deployments[n] for n in ("tier4/gpt-4-turbo", "tier4/claude-opus", "tier3/claude-sonnet")]
    body = {"max_tokens": 100, "messages": [{"role": "user", "content": "quero negociar o contrato " * 10}]}
    started = time.process_time()
    for _ in range(count):
        reservation_for(prompt_tokens(body["messages"]), asked_completion_tokens(body), chain)
    return (time.process_time() - started) / count * 1e6


async def main(count: int) -> None:
    server = RedisProcess.start()
    redis = aioredis.Redis.from_url(server.url)
    try:
        budgeted = OrgPolicy(organization_id="with_budget", monthly_budget_usd=10**9, **LIMITS)  # type: ignore[arg-type]
        unbudgeted = OrgPolicy(organization_id="no_budget", monthly_budget_usd=None, **LIMITS)  # type: ignore[arg-type]
        plain_admit, plain_settle = await _admissions(redis, unbudgeted, count, settle=True)
        budget_admit, budget_settle = await _admissions(redis, budgeted, count, settle=True)
    finally:
        await redis.aclose()
        server.stop()
    print(f"{count} requests, Redis CPU per script call (INFO commandstats):")
    print(f"  admission, limits without a budget   {plain_admit:6.1f} us")
    print(f"  admission, limits and a reservation  {budget_admit:6.1f} us  (+{budget_admit - plain_admit:.1f})")
    print(f"  settlement, no reservation           {plain_settle:6.1f} us")
    print(f"  settlement of a reservation          {budget_settle:6.1f} us  (+{budget_settle - plain_settle:.1f})")
    print(f"API CPU per request to work the reservation out: {_python_usec(count):.1f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="benchmarks.reservation_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    asyncio.run(main(parser.parse_args().requests))
