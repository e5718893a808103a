"""What one API process holds for its lifetime, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from api import observe
from api.jobs import LiveWorkers
from api.ratelimit import RateLimiter
from api.relay import ReplyListener
from api.tenancy import Tenancy
from common.budget_alerts import BudgetAlerts
from common.jobs import JobEnvelope
from common.usage import UsageRecorder
from config import Deployment, Settings
from routing import ModelCandidate, Router


@dataclass
class Gateway:
    settings: Settings
    redis: aioredis.Redis
    listener: ReplyListener
    live_workers: LiveWorkers
    router: Router
    deployments: dict[str, Deployment]
    tenancy: Tenancy
    limiter: RateLimiter
    usage: UsageRecorder

    @classmethod
    def build(cls, settings: Settings, redis: aioredis.Redis) -> Gateway:
        deployments = settings.deployments()
        candidates = [ModelCandidate(d.name, d.tier_number, d.input_cost_per_token, d.output_cost_per_token,
                                     d.weight, d.max_input_tokens) for d in deployments.values()]
        router = Router(settings.routing, candidates, settings.litellm_settings.fallbacks,
                        settings.router_settings.routing_strategy)
        return cls(settings, redis, ReplyListener(redis), LiveWorkers(redis), router, deployments,
                   Tenancy(settings, redis), RateLimiter(redis, BudgetAlerts(redis, settings.budgets.alert_webhook)),
                   UsageRecorder(redis, settings.audit.max_records, settings.audit.retention_days))

    async def finish(self, job: JobEnvelope, model: str | None, status: int) -> None:
        """A request has ended, however: stop listening for its job, give back its concurrency slot, count it."""
        self.listener.unregister(job.id)
        observe.ended(job.tier)
        observe.answered(job.tier, model, status, job.received_at)
        if job.holds_slot:
            await self.limiter.release(job.organization_id, job.id)
