"""How a worker survives failing providers: retry with backoff, cooldowns shared in Redis, load balancing.

execute.py asks three questions here: in which order to try the chain (Balancer), whether a model may be
tried now (Cooldowns.admit), and what to do after a failure (RetryPolicy.after).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common import keys
from common.metrics import COOLDOWNS
from config import Deployment
from config.settings import RouterSettings
from routing.chain import order_models
from routing.decision import ModelCandidate
from workers.providers import ProviderError

log = logging.getLogger("tiergate.worker")

Step = Literal["retry", "next_model", "larger_context", "give_up"]

#: Failures that say nothing about the model's health (the request was at fault) do not count to its cooldown.
NOT_THE_MODELS_FAULT = frozenset({"bad_request", "context_length"})
FAILURE_WINDOW_SECONDS = 60.0
#: A cooldown key outlives its end by this much, so the first request after it is recognised as the probe.
PROBE_GRACE_SECONDS = 600
PROBE_LEASE_SECONDS = 30
LATENCY_SAMPLES = 20


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog), never shorter than the provider's retry-after."""

    num_retries: int
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry: int, error: ProviderError, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        jitter = rand() * min(self.max_delay, self.base_delay * 2 ** retry)
        return max(jitter, error.retry_after or 0.0)

    def after(self, error: ProviderError, retries_done: int, remaining: float, delay: float) -> Step:
        """What to do next with this model, given the request's remaining seconds."""
        if error.kind == "bad_request":
            return "give_up"  # the request itself is wrong: every model would refuse it
        if error.kind == "context_length":
            return "larger_context"
        if not error.retryable or retries_done >= self.num_retries:
            return "next_model"  # 401/403/404 and spent retries: another model may answer at once
        if delay >= remaining:
            return "next_model"  # waiting would eat the deadline; a fallback may still answer in time
        return "retry"


@dataclass(frozen=True)
class Admission:
    allowed: bool
    probing: bool = False  # this request is the one let through after a cooldown ran out


class Cooldowns:
    """`allowed_fails` failures of a model within a minute cool it down for `cooldown_time`, for every worker.

    When the cooldown runs out, one request (whoever takes the probe lease) tries the model: success clears
    the state, failure starts a new cooldown. Redis trouble fails open: a worker that cannot read health
    still tries the model rather than refusing everything.
    """

    def __init__(self, redis: aioredis.Redis, allowed_fails: int, cooldown_time: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._allowed_fails = allowed_fails
        self._cooldown_time = cooldown_time
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._cooldown_time > 0

    @staticmethod
    def state_keys(models: Sequence[str]) -> list[str]:
        """The keys `admit` reads, for a caller that fetches them in a round trip it makes anyway."""
        return [keys.model_cooldown(m) for m in models]

    async def admit(self, model: str, known: Mapping[str, bytes | None] | None = None) -> Admission:
        """May `model` be tried now? `known`: its state as read at the job's start (saves a round trip)."""
        if not self.enabled:
            return Admission(True)
        try:
            until = known[model] if known is not None and model in known else \
                await self._redis.get(keys.model_cooldown(model))
            if until is None:
                return Admission(True)
            if float(until) > self._clock():
                return Admission(False)
            won = await self._redis.set(keys.model_probe(model), "1", nx=True, ex=PROBE_LEASE_SECONDS)
            return Admission(bool(won), probing=bool(won))
        except RedisError as exc:
            log.warning("cooldown state of %s unreadable (%s); trying it", model, exc)
            return Admission(True)

    async def failed(self, model: str, probing: bool) -> bool:
        """Count a failure; True when the model is now cooling down (stop retrying it)."""
        if not self.enabled:
            return False
        try:
            if probing:
                await self._trip(model)
                return True
            count = await self._redis.incr(keys.model_failures(model))
            if count == 1:
                await self._redis.expire(keys.model_failures(model), int(FAILURE_WINDOW_SECONDS))
            if count >= self._allowed_fails:
                await self._trip(model)
                return True
        except RedisError as exc:
            log.warning("cannot record a failure of %s: %s", model, exc)
        return False

    async def succeeded(self, model: str, probing: bool) -> None:
        if not probing:
            return
        try:
            await self._redis.delete(keys.model_cooldown(model), keys.model_probe(model), keys.model_failures(model))
            log.info("%s answered its probe: back in service", model)
        except RedisError as exc:
            log.warning("cannot clear the cooldown of %s: %s", model, exc)

    async def _trip(self, model: str) -> None:
        until = self._clock() + self._cooldown_time
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.model_cooldown(model), f"{until:.3f}", ex=int(self._cooldown_time) + PROBE_GRACE_SECONDS)
            pipe.delete(keys.model_failures(model), keys.model_probe(model))
            await pipe.execute()
        COOLDOWNS.labels(model).inc()
        log.warning("%s cooling down for %gs", model, self._cooldown_time)

    async def seconds_left(self, models: list[str]) -> float | None:
        """The shortest time until one of `models` may be tried again (for a 503's retry-after)."""
        try:
            values = await self._redis.mget([keys.model_cooldown(m) for m in models]) if models else []
        except RedisError:
            return None
        now = self._clock()
        left = [max(0.0, float(v) - now) for v in values if v is not None]
        return min(left) if left else None


class Balancer:
    """Order among the models of the job's own tier: cheapest (the router's order), latency, or weighted."""

    def __init__(self, redis: aioredis.Redis, deployments: Mapping[str, Deployment], strategy: str,
                 rand: Callable[[], float] = random.random) -> None:
        self._redis = redis
        self._deployments = deployments
        self._strategy = _STRATEGIES.get(strategy, "cheapest")
        self._rand = rand

    async def order(self, chain: list[str], tier: str) -> list[str]:
        head = _leading(chain, tier, self._deployments)
        if self._strategy == "cheapest" or len(head) < 2 or not self._unpinned(head):
            return chain
        rest = chain[len(head):]
        if self._strategy == "weighted":
            return weighted_order(head, {m: self._deployments[m].weight for m in head}, self._rand) + rest
        latencies = await self._latencies(head)
        if latencies is None:
            return chain
        return sorted(head, key=lambda m: _mean_or_zero(latencies[m])) + rest

    def _unpinned(self, head: list[str]) -> bool:
        """The router's static order means nobody pinned a model; a pinned model must stay first."""
        static = order_models((_candidate(self._deployments[m]) for m in head), "weighted"
                              if self._strategy == "weighted" else "cheapest")
        return [c.name for c in static] == head

    async def record_latency(self, model: str, seconds: float) -> None:
        if self._strategy != "latency":
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(keys.model_latency(model), f"{seconds:.4f}")
                pipe.ltrim(keys.model_latency(model), 0, LATENCY_SAMPLES - 1)
                pipe.expire(keys.model_latency(model), 3600)
                await pipe.execute()
        except RedisError as exc:
            log.warning("cannot record the latency of %s: %s", model, exc)

    async def _latencies(self, models: list[str]) -> dict[str, list[float]] | None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for model in models:
                    pipe.lrange(keys.model_latency(model), 0, -1)
                rows = await pipe.execute()
        except RedisError:
            return None
        return {m: [float(v) for v in row] for m, row in zip(models, rows, strict=True)}


_STRATEGIES = {"cheapest": "cheapest", "least-busy": "cheapest", "usage-based-routing": "cheapest",
               "latency": "latency", "latency-based-routing": "latency",
               "weighted": "weighted", "simple-shuffle": "weighted"}


def weighted_order(models: list[str], weights: Mapping[str, float], rand: Callable[[], float]) -> list[str]:
    """A random order where each model comes first in proportion to its weight (Efraimidis–Spirakis)."""
    return sorted(models, key=lambda m: -(max(rand(), 1e-12) ** (1.0 / weights[m])))


def _leading(chain: list[str], tier: str, deployments: Mapping[str, Deployment]) -> list[str]:
    """The models at the front of the chain that serve the job's tier (the fallbacks follow them)."""
    head: list[str] = []
    for name in chain:
        if name not in deployments or deployments[name].tier != tier:
            break
        head.append(name)
    return head


def _mean_or_zero(samples: list[float] | None) -> float:
    # A model with no recent sample sorts first, so it gets measured.
    return sum(samples) / len(samples) if samples else 0.0


def _candidate(d: Deployment) -> ModelCandidate:
    return d.candidate()


@dataclass(frozen=True)
class Resilience:
    """Everything execute.py needs to survive failures, built once per worker process."""

    policy: RetryPolicy
    cooldowns: Cooldowns
    balancer: Balancer
    attempt_timeout: float

    @classmethod
    def build(cls, redis: aioredis.Redis, deployments: Mapping[str, Deployment],
              settings: RouterSettings) -> Resilience:
        return cls(RetryPolicy(settings.num_retries),
                   Cooldowns(redis, settings.allowed_fails, settings.cooldown_time),
                   Balancer(redis, deployments, settings.routing_strategy),
                   settings.timeout)
