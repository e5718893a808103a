"""What one API process holds for its lifetime, built once at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from api import jobs, observe
from api.jobs import JobQueues, LiveWorkers
from api.ratelimit import RateLimiter
from api.relay import ReplyListener
from api.spend import SpendSeeder
from api.tenancy import Tenancy
from common.budget_alerts import BudgetAlerts
from common.jobs import JobEnvelope
from common.lost_streams import Cut, LostStreams
from common.retrying import retried
from common.usage import UsageRecorder
from config import Deployment, Settings
from records.repository import Records
from routing import Router

#: How long a request's end waits for its job's cancel (or a cut stream's note, or its usage) before leaving it
#: to the background (Redis is away).
BACKGROUND_AFTER_SECONDS = 1.0


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
    lost_streams: LostStreams
    _background: set[asyncio.Future[None]] = field(default_factory=set)  # work waiting for Redis to return

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
                   UsageRecorder(redis), records, LostStreams(redis, deployments, settings.audit.content))

    async def finish(self, job: JobEnvelope, model: str | None, status: int, relayed: int | None = None) -> None:
        """A request has ended, however: stop listening for its job (and cancel it if it may still run: the API
        gave up on it, or its client did), give back its concurrency slot, count it. `relayed`, for a stream
        that ended before its worker's last event: the chunks its client got (0 or more), which its worker bills
        if it lives, else a rescuer or this process (common/lost_streams.py)."""
        if self.listener.unregister(job.id):
            await self._until_done(retried(lambda: jobs.cancel(self.redis, job.id), f"the cancel of {job.id}",
                                           until=job.deadline))
        if relayed is not None:
            await self._until_done(retried(lambda: self._note_cut(job, Cut(status, relayed, model)),
                                           f"the note of the cut stream {job.id}"))
        observe.ended(job.tier)
        observe.answered(job.tier, model, status, job.received_at)
        if job.holds_slot:
            await self.limiter.release(job.organization_id, job.id)

    async def _note_cut(self, job: JobEnvelope, cut: Cut) -> None:
        if await self.lost_streams.note_cut(job, cut):  # its worker was found dead already: nobody else counts it
            await self.lost_streams.settle(job, cut)

    async def settle_lost(self, job: JobEnvelope, model: str | None, chunks: int, status: int) -> None:
        """A stream whose worker died mid-answer (or may die: the reply channel was lost after chunks went out): the
        API process that relayed it counts it, once (by request id, like every usage record, so a worker counting
        it first wins): what it relayed, and its reservations settled. While Redis is away, tried again."""
        cut = Cut(status, chunks, model)
        await self._until_done(retried(lambda: self.lost_streams.count(job, cut), f"the usage of {job.id}"))

    async def _until_done(self, work: Awaitable[None]) -> None:
        """Await `work` up to a second; past that (Redis is away and it retries), leave it to the background."""
        attempt = asyncio.ensure_future(work)
        await asyncio.wait([attempt], timeout=BACKGROUND_AFTER_SECONDS)
        if not attempt.done():
            self._background.add(attempt)
            attempt.add_done_callback(self._background.discard)
