"""After a job: count its usage and cost once, write its audit record, settle its token and budget
reservations, and raise budget alerts. The worker that made the call is the one party that knows all of it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import redis.asyncio as aioredis

from common.audit import accepted_record
from common.budget import crossed_levels
from common.budget_alerts import BudgetAlerts
from common.jobs import JobEnvelope
from common.metrics import COST, TOKENS
from common.pricing import partial_stream_usage, usage_cost
from common.usage import NANO, UsageEntry, UsageRecorder
from config import Deployment, Settings
from workers.execute import JobOutcome

log = logging.getLogger("tiergate.accounting")


class Accountant:
    def __init__(self, redis: aioredis.Redis, settings: Settings, deployments: dict[str, Deployment]) -> None:
        self._settings = settings
        self._recorder = UsageRecorder(redis)
        self._deployments = deployments
        self._alerts = BudgetAlerts(redis, settings.budgets.alert_webhook)

    async def settle(self, job: JobEnvelope, outcome: JobOutcome | None, status: int,
                     also: Callable[[Any], None] | None = None, permit: str | None = None) -> bool:
        """Record a job that ran (outcome) or was dropped or cancelled before it produced anything (None);
        `also` queues the caller's commands in the same round trip, `permit` is what lets it count
        (UsageRecorder.record). False when it was not counted (counted already, or the permit was refused)."""
        if outcome is not None and outcome.usage is None and outcome.streamed_chunks:
            self._bill_partial_stream(job, outcome)
        usage = (outcome.usage if outcome else None) or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        now = time.time()
        entry = UsageEntry(
            request_id=job.id, organization_id=job.organization_id, tier=job.tier,
            model=outcome.model if outcome else None, user_id=job.user_id, prompt_tokens=prompt,
            completion_tokens=completion, cost_usd=outcome.cost if outcome else 0.0, cache_hit=False,
            error=status >= 400, time=now)
        audit = accepted_record(job, entry, status, attempts=[asdict(a) for a in outcome.attempts] if outcome else [],
                                answer=outcome.answer if outcome else None, content_mode=self._settings.audit.content)
        # Both reservations settle to what the request actually used (nothing, when it produced nothing).
        delta = prompt + completion - job.reserved_tokens
        recorded = await self._recorder.record(entry, audit, job.tokens_key or None, delta, also, job.reservation,
                                               permit)
        if not recorded.counted:
            log.info("usage of %s not counted: counted already, or this worker's lease was taken over", job.id)
            return False
        _count(job, entry, self._settings.metrics.organization_label)
        for level in crossed_levels(recorded.spend_before_nusd, recorded.spend_after_nusd, job.budget_usd,
                                    job.budget_soft_ratio):
            await self._alerts.alert(job.organization_id, level, recorded.spend_after_nusd / NANO, job.budget_usd or 0)
        return True

    def _bill_partial_stream(self, job: JobEnvelope, outcome: JobOutcome) -> None:
        """A stream cut short never got the provider's usage: bill what it relayed (partial_stream_usage)."""
        deployment = self._deployments.get(outcome.model or "")
        if deployment is None:
            return
        outcome.usage = partial_stream_usage(job.estimated_tokens, outcome.streamed_chunks)
        outcome.cost = usage_cost(outcome.usage, deployment.input_cost_per_token, deployment.output_cost_per_token)


def _count(job: JobEnvelope, entry: UsageEntry, per_organization: bool = True) -> None:
    """Prometheus sees tokens and cost exactly when usage does: once per request, by the worker that counted it."""
    model = entry.model or "none"
    if entry.prompt_tokens:
        TOKENS.labels(model, job.tier, "prompt").inc(entry.prompt_tokens)
    if entry.completion_tokens:
        TOKENS.labels(model, job.tier, "completion").inc(entry.completion_tokens)
    if entry.cost_usd:
        COST.labels(job.organization_id if per_organization else "all", model).inc(entry.cost_usd)
