"""GET /ai/dashboard: a live page for operators; GET /ai/dashboard/data: everything it shows, in one answer.

The page holds no data; it fetches /ai/dashboard/data with the master key it is given, so serving it needs no
key. The data: per tier the queue snapshot of GET /ai/queues, with each worker's load on that tier, and the
last ten minutes of latency, time to first token, queue wait, throughput and errors (common/recent.py); each
organization's spend this month against its budget; the recent failures, each with its audit record's address.
"""

from __future__ import annotations

import time
from functools import cache
from importlib import resources
from typing import Any

import redis.exceptions
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from api.auth import authenticate, require_master
from api.errors import error_response
from api.inspection import queue_snapshot
from api.spend import month_of
from api.state import Gateway
from common import keys
from common.errors import GatewayError, queue_unavailable
from common.recent import BUCKET_SECONDS, bucket_of, summarise
from common.usage import period_of
from config import TIER_NAMES
from records.repository import AuditFilter

WINDOW_SECONDS = 10 * 60
RECENT_ERRORS = 20


@cache
def _page() -> str:
    return resources.files("api").joinpath("static/dashboard.html").read_text(encoding="utf-8")


async def dashboard(request: Request) -> Response:
    return HTMLResponse(_page(), headers={"cache-control": "no-store"})


async def dashboard_data(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    now = time.time()
    try:
        require_master(await authenticate(request, gateway.tenancy))
        snapshot = await queue_snapshot(gateway)
        for tier, figures in (await recent_figures(gateway, now)).items():
            snapshot["tiers"][tier]["recent"] = figures
        snapshot["organizations"] = await organization_spend(gateway, now)
    except GatewayError as exc:
        return error_response(exc)
    except redis.exceptions.RedisError:
        return error_response(queue_unavailable())
    snapshot["recent_errors"] = await recent_errors(gateway, now)
    snapshot["figures_window_seconds"] = WINDOW_SECONDS
    return JSONResponse(snapshot, headers={"cache-control": "no-store"})


async def recent_figures(gateway: Gateway, now: float) -> dict[str, dict[str, Any]]:
    """Per tier: the window's series and percentiles, from one pipelined round trip."""
    last = bucket_of(now)
    buckets = list(range(last - WINDOW_SECONDS + BUCKET_SECONDS, last + 1, BUCKET_SECONDS))
    async with gateway.redis.pipeline(transaction=False) as pipe:
        for tier in TIER_NAMES:
            for bucket in buckets:
                pipe.hgetall(keys.recent_figures(tier, bucket))
        rows = await pipe.execute()
    return {tier: summarise(zip(buckets, rows[index * len(buckets):(index + 1) * len(buckets)], strict=True))
            for index, tier in enumerate(TIER_NAMES)}


async def organization_spend(gateway: Gateway, now: float) -> list[dict[str, Any]]:
    """Every known organization's spend this month (the budget's hot counter, else the ledger) and budget."""
    organizations = sorted(await gateway.tenancy.organizations())
    counters = await gateway.redis.mget([keys.spend(o, period_of(now)) for o in organizations]) if organizations else []
    first, last = month_of(now)
    rows = []
    for organization_id, counter in zip(organizations, counters, strict=True):
        policy = await gateway.tenancy.policy(organization_id)
        spent_nusd = int(counter) if counter is not None else await _ledger_spend(gateway, organization_id, first,
                                                                                  last)
        budget = policy.monthly_budget_usd if policy else None
        spent = spent_nusd / 1e9 if spent_nusd is not None else None
        rows.append({"organization_id": organization_id, "plan": policy.plan if policy else None,
                     "spent_usd": spent, "budget_usd": budget,
                     "used_ratio": round(spent / budget, 4) if budget and spent is not None else None,
                     "soft_ratio": policy.budget_soft_ratio if policy else None})
    return rows


async def _ledger_spend(gateway: Gateway, organization_id: str, first: Any, last: Any) -> int | None:
    try:
        return await gateway.records.spend_nusd(organization_id, first, last)
    except (SQLAlchemyError, OSError):  # the database is away: the page says "unknown" rather than failing whole
        return None


async def recent_errors(gateway: Gateway, now: float) -> list[dict[str, Any]]:
    """The last failures (5xx) of the window, newest first, as the audit trail holds them; [] if it is away."""
    try:
        records, _ = await gateway.records.audit_page(AuditFilter(start=now - WINDOW_SECONDS, min_status=500),
                                                      RECENT_ERRORS)
    except (SQLAlchemyError, OSError):
        return []
    return [{"request_id": r["request_id"], "time": r["time"], "status": r["status"],
             "organization_id": r.get("organization_id"), "tier": (r.get("route") or {}).get("tier"),
             "model": r.get("model"), "code": (r.get("error") or {}).get("code") or _last_attempt_error(r),
             "audit_url": f"/ai/admin/audit?request_id={r['request_id']}"} for r in records]


def _last_attempt_error(record: dict[str, Any]) -> str | None:
    attempts = record.get("attempts") or []
    last = attempts[-1] if attempts else None
    return str(last.get("outcome"))[:120] if isinstance(last, dict) else None
