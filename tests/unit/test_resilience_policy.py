"""Retry decisions, backoff, cooldown state and balancing, with a fake clock and an in-memory Redis."""

from __future__ import annotations

import asyncio
import random

import fakeredis
import pytest

from common import keys
from workers.providers import ProviderError
from workers.resilience import Cooldowns, RetryPolicy, weighted_order

POLICY = RetryPolicy(num_retries=2, base_delay=0.5, max_delay=8.0)


def test_backoff_is_exponential_with_full_jitter() -> None:
    error = ProviderError("server", "boom", 500)
    assert [POLICY.delay(n, error, rand=lambda: 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert POLICY.delay(3, error, rand=lambda: 0.0) == 0.0, "full jitter draws from zero up to the cap"
    draws = [POLICY.delay(2, error, rand=random.Random(1).random) for _ in range(200)]
    assert all(0 <= d <= 2.0 for d in draws)


def test_retry_after_is_a_floor_on_the_delay() -> None:
    assert POLICY.delay(0, ProviderError("rate_limit", "slow down", 429, retry_after=1.0), rand=lambda: 0.1) == 1.0


@pytest.mark.parametrize(("kind", "status", "step"), [
    ("rate_limit", 429, "retry"), ("server", 500, "retry"), ("server", 502, "retry"), ("server", 503, "retry"),
    ("timeout", 504, "retry"), ("connection", None, "retry"), ("timeout", None, "retry"),
    ("bad_request", 400, "give_up"), ("not_found", 404, "next_model"), ("auth", 401, "next_model"),
    ("auth", 403, "next_model"), ("context_length", 400, "larger_context"),
])
def test_what_is_retried(kind: str, status: int | None, step: str) -> None:
    assert POLICY.after(ProviderError(kind, "x", status), 0, remaining=30, delay=0.1) == step


def test_spent_retries_or_a_wait_past_the_deadline_move_to_the_next_model() -> None:
    error = ProviderError("rate_limit", "x", 429, retry_after=5)
    assert POLICY.after(error, 2, remaining=30, delay=0.1) == "next_model"
    assert POLICY.after(error, 0, remaining=4, delay=5) == "next_model"


def test_weighted_order_prefers_heavier_models_in_proportion() -> None:
    rand = random.Random(7).random
    firsts = [weighted_order(["a", "b"], {"a": 3.0, "b": 1.0}, rand)[0] for _ in range(4000)]
    assert 0.70 < firsts.count("a") / len(firsts) < 0.80


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cooldowns(clock: Clock) -> Cooldowns:
    return Cooldowns(fakeredis.FakeAsyncRedis(), allowed_fails=2, cooldown_time=10, clock=clock)


def test_allowed_fails_then_cooldown_then_one_probe(cooldowns: Cooldowns, clock: Clock) -> None:
    async def scenario() -> None:
        assert await cooldowns.failed("m", probing=False) is False
        assert (await cooldowns.admit("m")).allowed, "one failure is within allowed_fails"
        assert await cooldowns.failed("m", probing=False) is True
        assert not (await cooldowns.admit("m")).allowed, "cooling down"
        assert await cooldowns.seconds_left(["m"]) == pytest.approx(10)
        clock.now += 10.5
        first, second = await cooldowns.admit("m"), await cooldowns.admit("m")
        assert (first.allowed, first.probing) == (True, True) and not second.allowed, "one probe at a time"
        await cooldowns.failed("m", probing=True)
        assert not (await cooldowns.admit("m")).allowed, "a failed probe starts a new cooldown"
        clock.now += 10.5
        probe = await cooldowns.admit("m")
        await cooldowns.succeeded("m", probing=probe.probing)
        assert (await cooldowns.admit("m")).probing is False, "a successful probe clears the state"
        assert await cooldowns._redis.get(keys.model_cooldown("m")) is None

    asyncio.run(scenario())
