"""What one API process holds for its lifetime, built once at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import redis.exceptions

from api import observe
from api.jobs import JobQueues, LiveWorkers, cancel_until_sent
from api.ratelimit import RateLimiter
from api.relay import ReplyListener
from api.spend import SpendSeeder
from api.tenancy import Tenancy
from common.audit import accepted_record
from common.budget_alerts import BudgetAlerts
from common.jobs import JobEnvelope
from common.pricing import partial_stream_usage, usage_cost
from common.usage import UsageEntry, UsageRecorder
from config import Deployment, Settings
from records.repository import Records
from routing import Router

#: How long a request's end waits for its job's cancel before leaving it to the background (Redis is away).
CANCEL_WAIT_SECONDS = 1.0


@dataclass
class Gateway:
    settings: Settings
    redis: aioredis.Redis
    listener: ReplyListener
    live_workers: LiveWorkers
    queues: JobQueues
    router: Router
    deployments: dict[str, Deployment]
    tenancy: Tenancy
    limiter: RateLimiter
    usage: UsageRecorder
    records: Records
    _cancelling: set[asyncio.Future[None]] = field(default_factory=set)  # cancels waiting for Redis to return

    @classmethod
    def build(cls, settings: Settings, redis: aioredis.Redis, records: Records) -> Gateway:
        deployments = settings.deployments()
        candidates = [d.candidate() for d in deployments.values()]
        router = Router(settings.routing, candidates, settings.litellm_settings.fallbacks,
                        settings.router_settings.routing_strategy)
        return cls(settings, redis, ReplyListener(redis), LiveWorkers(redis), JobQueues(redis), router, deployments,
                   Tenancy(settings, redis, records),
                   RateLimiter(redis, BudgetAlerts(redis, settings.budgets.alert_webhook),
                               SpendSeeder(redis, records).seed),
                   UsageRecorder(redis), records)

    async def finish(self, job: JobEnvelope, model: str | None, status: int) -> None:
        """A request has ended, however: stop listening for its job (and cancel it if it may still run: the API
        gave up on it, or its client did), give back its concurrency slot, count it."""
        if self.listener.unregister(job.id):
            await self._cancel(job)
        observe.ended(job.tier)
        observe.answered(job.tier, model, status, job.received_at)
        if job.holds_slot:
            await self.limiter.release(job.organization_id, job.id)

    async def _cancel(self, job: JobEnvelope) -> None:
        """Cancel now; if Redis is away, keep trying in the background, so the request still ends at once."""
        attempt = asyncio.ensure_future(cancel_until_sent(self.redis, job))
        await asyncio.wait([attempt], timeout=CANCEL_WAIT_SECONDS)
        if not attempt.done():
            self._cancelling.add(attempt)
            attempt.add_done_callback(self._cancelling.discard)

    async def settle_lost(self, job: JobEnvelope, model: str | None, chunks: int) -> None:
        """A stream whose worker died mid-answer: that worker can no longer count it, so the API process that relayed
        it does, once (by request id, like every usage record): what it relayed, and its reservations settled."""
        deployment = self.deployments.get(model or "")
        usage = partial_stream_usage(job.estimated_tokens, chunks) if deployment else {}
        cost = usage_cost(usage, deployment.input_cost_per_token, deployment.output_cost_per_token) \
            if deployment else 0.0
        entry = UsageEntry(request_id=job.id, organization_id=job.organization_id, tier=job.tier, model=model,
                           user_id=job.user_id, prompt_tokens=usage.get("prompt_tokens", 0),
                           completion_tokens=usage.get("completion_tokens", 0), cost_usd=cost, cache_hit=False,
                           error=True, time=time.time())
        audit = accepted_record(job, entry, 502, attempts=[], answer=None, content_mode=self.settings.audit.content)
        with contextlib.suppress(redis.exceptions.RedisError):  # then the reservation expires by itself
            await self.usage.record(entry, audit, job.tokens_key or None,
                                    entry.prompt_tokens + entry.completion_tokens - job.reserved_tokens,
                                    reservation=job.reservation)
