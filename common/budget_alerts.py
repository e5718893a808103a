"""Budget alerts: once per organization, month and level, a log line, a metric and, when configured, a webhook.

"soft": settled spend crossed `budget_soft_ratio` of the budget (the worker that settled it raises it).
"hard": the budget refused a request (the API process that refused it raises it). Spend itself never reaches
the budget: admission reserves each request's most expensive outcome first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import redis.asyncio as aioredis

from common import keys
from common.metrics import BUDGET_ALERTS
from common.usage import period_of

log = logging.getLogger("tiergate.budget")


class BudgetAlerts:
    def __init__(self, redis: aioredis.Redis, webhook: str | None) -> None:
        self._redis = redis
        self._webhook = webhook
        self._pending: set[asyncio.Future[None]] = set()

    def raise_soon(self, organization_id: str, level: str, spent_usd: float, budget_usd: float) -> None:
        """`alert` without making the caller wait for it (a refused request is answered at once)."""
        task = asyncio.ensure_future(self.alert(organization_id, level, spent_usd, budget_usd))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def alert(self, organization_id: str, level: str, spent_usd: float, budget_usd: float) -> None:
        marker = keys.budget_alert(organization_id, period_of(time.time()), level)
        try:
            if not await self._redis.set(marker, 1, nx=True, ex=40 * 86400):
                return
        except Exception as exc:  # an alert is worth a retry on the next crossing, not a failed request
            log.warning("could not record the %s budget alert of %s: %s", level, organization_id, exc)
            return
        BUDGET_ALERTS.labels(level).inc()
        log.warning("budget alert: organization %s reached its %s budget threshold: $%.6f spent of $%.2f",
                    organization_id, level, spent_usd, budget_usd)
        if self._webhook:
            payload = {"organization_id": organization_id, "level": level, "spent_usd": spent_usd,
                       "budget_usd": budget_usd}
            sending = asyncio.ensure_future(_post(self._webhook, payload))
            self._pending.add(sending)
            sending.add_done_callback(self._pending.discard)


async def _post(url: str, payload: dict[str, Any]) -> None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            (await client.post(url, json=payload)).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("budget alert webhook failed: %s", type(exc).__name__)
