"""GET /ai/usage: an organization's requests, tokens, cost, cache hits and errors, by day, tier, model and user."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import authenticate, scoped_organization
from api.errors import error_response
from api.state import Gateway
from common import keys
from common.errors import GatewayError
from common.usage import METRICS, NANO, parse_field

MAX_DAYS = 366


async def usage(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        caller = await authenticate(request, gateway.tenancy)
        start, end = _date_range(request.query_params.get("start_date"), request.query_params.get("end_date"))
        organization = scoped_organization(caller, request.query_params.get("organization_id"))
    except GatewayError as exc:
        return error_response(exc)
    organizations = [organization] if organization else sorted(
        m.decode() for m in await gateway.redis.smembers(keys.USAGE_ORGANIZATIONS))
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    async with gateway.redis.pipeline(transaction=False) as pipe:
        for org in organizations:
            for day in days:
                pipe.hgetall(keys.usage_day(org, day))
        rows = await pipe.execute()
    report = summarize(organizations, days, rows)
    return JSONResponse({"object": "usage", "organization_id": organization, "start_date": start.isoformat(),
                         "end_date": end.isoformat(), **report})


def summarize(organizations: list[str], days: list[str], rows: list[dict[bytes, bytes]]) -> dict[str, Any]:
    """Fold the per organization-day counter hashes into totals and breakdowns."""
    totals: dict[str, int] = defaultdict(int)
    by_day: dict[str, dict[str, int]] = {day: defaultdict(int) for day in days}
    by_org: dict[str, dict[str, int]] = {org: defaultdict(int) for org in organizations}
    breakdowns: dict[str, dict[str, dict[str, int]]] = {"tier": {}, "model": {}, "user": {}}
    cells = ((org, day) for org in organizations for day in days)
    for (org, day), row in zip(cells, rows, strict=True):
        for raw_field, raw_value in row.items():
            kind, name, metric = parse_field(raw_field.decode())
            value = int(raw_value)
            if kind == "total":
                totals[metric] += value
                by_day[day][metric] += value
                by_org[org][metric] += value
            elif kind in breakdowns:
                breakdowns[kind].setdefault(name, defaultdict(int))[metric] += value
    return {
        "totals": _figures(totals),
        "by_day": [{"date": day, **_figures(values)} for day, values in by_day.items()],
        "by_tier": {name: _figures(v) for name, v in sorted(breakdowns["tier"].items())},
        "by_model": {name: _figures(v) for name, v in sorted(breakdowns["model"].items())},
        "by_user": {name: _figures(v) for name, v in sorted(breakdowns["user"].items())},
        "by_organization": {org: _figures(v) for org, v in by_org.items() if v},
    }


def _figures(values: dict[str, int]) -> dict[str, Any]:
    figures: dict[str, Any] = {metric: values.get(metric, 0) for metric in METRICS if metric != "cost_nusd"}
    figures["total_tokens"] = figures["prompt_tokens"] + figures["completion_tokens"]
    figures["cost_usd"] = round(values.get("cost_nusd", 0) / NANO, 9)
    return figures


def _date_range(start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    first = _date(start, "start_date") if start else today.replace(day=1)
    last = _date(end, "end_date") if end else today
    if last < first:
        raise GatewayError(400, "end_date: must not be before start_date", "invalid_request", "end_date")
    if (last - first).days >= MAX_DAYS:
        raise GatewayError(400, f"end_date: the range may span at most {MAX_DAYS} days", "invalid_request",
                           "end_date")
    return first, last


def _date(value: str, param: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise GatewayError(400, f"{param}: must be a date YYYY-MM-DD; got {value!r}", "invalid_request",
                           param) from None
