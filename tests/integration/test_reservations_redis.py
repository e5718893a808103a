"""Budget reservations on a real Redis: admission and settlement scripts, concurrency, expiry, exactly-once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from api.ratelimit import RESERVATION_GRACE, RateLimiter
from api.spend import SpendSeeder
from api.tenancy import OrgPolicy
from common import keys
from common.budget import Reservation, reservation_member
from common.budget_alerts import BudgetAlerts
from common.errors import GatewayError
from common.usage import NANO, UsageEntry, UsageRecorder
from records.repository import Records
from tests.databases import sqlite_database
from tests.harness import RedisProcess

pytestmark = pytest.mark.integration

POLICY = OrgPolicy(organization_id="org_r", plan="p", max_tier=4, rpm=None, tpm=None, max_concurrent=None,
                   user_rpm=None, monthly_budget_usd=0.03, budget_soft_ratio=0.8, budget_soft_max_tier=3)
EACH = Reservation(tokens=120, cost_nusd=9_000_000)  # $0.009: three fit in $0.03, four do not


@pytest.fixture(scope="module")
def server(own_redis: RedisProcess) -> Iterator[RedisProcess]:
    yield own_redis


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty ledger: the month's spend counter starts from it at zero."""
    with sqlite_database(tmp_path_factory.mktemp("ledger")) as url:
        yield url


def _run(server: RedisProcess, test: Any, ledger: str) -> Any:
    async def main() -> Any:
        redis = aioredis.Redis.from_url(server.url)
        records = Records.connect(ledger)
        await redis.flushdb()  # this module's own server
        try:
            return await test(redis, RateLimiter(redis, BudgetAlerts(redis, None), SpendSeeder(redis, records).seed))
        finally:
            await redis.aclose()
            await records.close()

    return asyncio.run(main())


async def _admit(limiter: RateLimiter, job_id: str, now: float | None = None, hold: float = 30.0) -> int | str:
    try:
        return (await limiter.admit(POLICY, job_id, None, EACH, hold_seconds=hold, now=now)).reserved_nusd
    except GatewayError as exc:
        return exc.code or ""


async def _settle(redis: aioredis.Redis, job_id: str, cost_usd: float) -> bool:
    recorder = UsageRecorder(redis)
    entry = UsageEntry(request_id=job_id, organization_id="org_r", tier="tier4", model="m", user_id=None,
                       prompt_tokens=10, completion_tokens=10, cost_usd=cost_usd, cache_hit=False, error=False,
                       time=time.time())
    recorded = await recorder.record(entry, {"request_id": job_id}, reservation=(reservation_member(job_id, 9_000_000),
                                                                                 9_000_000))
    return recorded.counted


async def _money(redis: aioredis.Redis) -> tuple[int, int]:
    spend = await redis.get(keys.spend("org_r", time.strftime("%Y-%m", time.gmtime())))
    reserved = await redis.get(keys.reserved_total("org_r"))
    return int(spend or 0), int(reserved or 0)


def test_fifty_concurrent_admissions_reserve_no_more_than_the_budget(server: RedisProcess, ledger: str) -> None:
    async def test(redis: aioredis.Redis, limiter: RateLimiter) -> None:
        outcomes = await asyncio.gather(*(_admit(limiter, f"job{n}") for n in range(50)))
        assert outcomes.count(9_000_000) == 3 and outcomes.count("budget_exceeded") == 47
        assert await _money(redis) == (0, 27_000_000)
        assert await redis.zcard(keys.reservations("org_r")) == 3

    _run(server, test, ledger)


def test_settling_replaces_the_reservation_with_the_cost_exactly_once(server: RedisProcess, ledger: str) -> None:
    async def test(redis: aioredis.Redis, limiter: RateLimiter) -> None:
        assert await _admit(limiter, "a") == await _admit(limiter, "b") == 9_000_000
        assert await _settle(redis, "a", 0.004)
        assert await _money(redis) == (4_000_000, 9_000_000)
        assert not await _settle(redis, "a", 0.004), "a second settlement of the same request counted"
        assert await _money(redis) == (4_000_000, 9_000_000)
        assert await _admit(limiter, "c") == 9_000_000  # 4 + 9 + 9 = 22 of 30 committed
        assert await _admit(limiter, "d") == "budget_exceeded"
        assert await _settle(redis, "b", 0.0) and await _settle(redis, "c", 0.009)
        assert await _money(redis) == (13_000_000, 0)
        assert not await redis.exists(keys.reserved_total("org_r")), "an empty total is removed with its set"

    _run(server, test, ledger)


def test_a_reservation_whose_request_vanished_gives_its_amount_back_after_its_deadline(server: RedisProcess,
                                                                                        ledger: str) -> None:
    async def test(redis: aioredis.Redis, limiter: RateLimiter) -> None:
        now = time.time()
        for job in ("x", "y", "z"):
            assert await _admit(limiter, job, now=now, hold=10) == 9_000_000
        assert await _admit(limiter, "w", now=now + 10 + RESERVATION_GRACE - 1) == "budget_exceeded"
        assert await _admit(limiter, "w", now=now + 10 + RESERVATION_GRACE + 1) == 9_000_000
        assert await _money(redis) == (0, 9_000_000)
        assert await _settle(redis, "x", 0.002), "a late settlement still counts the cost"
        assert await _money(redis) == (2_000_000, 9_000_000), "and leaves the live reservation alone"

    _run(server, test, ledger)


def test_the_refusal_carries_the_window_as_it_stands(server: RedisProcess, ledger: str) -> None:
    async def test(redis: aioredis.Redis, limiter: RateLimiter) -> None:
        policy = OrgPolicy(**{**POLICY.__dict__, "rpm": 2, "tpm": 1000})
        for job in ("r1", "r2"):
            await limiter.admit(policy, job, None, EACH, hold_seconds=30)
        with pytest.raises(GatewayError) as caught:
            await limiter.admit(policy, "r3", None, EACH, hold_seconds=30)
        assert caught.value.status == 429
        assert caught.value.headers["x-ratelimit-remaining-requests"] == "0"
        assert caught.value.headers["x-ratelimit-remaining-tokens"] == str(1000 - 2 * EACH.tokens)
        assert await _money(redis) == (0, 2 * EACH.cost_nusd), "a refused request reserved nothing"

    _run(server, test, ledger)


def test_spend_never_passes_the_budget_under_concurrent_admission_and_settlement(server: RedisProcess,
                                                                                  ledger: str) -> None:
    async def test(redis: aioredis.Redis, limiter: RateLimiter) -> None:
        async def request(n: int) -> None:
            if await _admit(limiter, f"s{n}") == 9_000_000:
                await asyncio.sleep(0.001 * (n % 5))
                await _settle(redis, f"s{n}", 0.009)

        await asyncio.gather(*(request(n) for n in range(60)))
        spend, reserved = await _money(redis)
        assert spend <= 0.03 * NANO and reserved == 0 and spend == 27_000_000

    _run(server, test, ledger)


def test_an_admission_given_back_releases_its_reservation_once(server: RedisProcess, ledger: str) -> None:
    async def test(redis: aioredis.Redis, limiter: RateLimiter) -> None:
        admission = await limiter.admit(POLICY, "g", None, EACH, hold_seconds=30)
        await limiter.give_back(admission, "g")
        assert await _money(redis) == (0, 0)
        assert not await _settle(redis, "g", 0.0) or await _money(redis) == (0, 0), "released twice"
        assert await _admit(limiter, "h") == 9_000_000

    _run(server, test, ledger)
