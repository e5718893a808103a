"""GET /ai/usage: an organization's requests, tokens, cost, cache hits and errors, by day, tier, model and user,
summed from the usage ledger in the database for any date range (the master key's all-organizations view has
by_organization instead of by_user)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import authenticate, scoped_organization
from api.errors import error_response
from api.state import Gateway
from common.errors import GatewayError, records_unavailable
from common.usage import NANO
from records.repository import FIGURES

Sums = dict[str, dict[str, int]]


async def usage(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        caller = await authenticate(request, gateway.tenancy)
        start, end = _date_range(request.query_params.get("start_date"), request.query_params.get("end_date"))
        organization = scoped_organization(caller, request.query_params.get("organization_id"))
    except GatewayError as exc:
        return error_response(exc)
    try:
        report = await gateway.records.usage_report(organization, start, end)
    except (SQLAlchemyError, OSError):
        return error_response(records_unavailable())
    return JSONResponse({"object": "usage", "organization_id": organization, "start_date": start.isoformat(),
                         "end_date": end.isoformat(), **summarize(start, end, report)})


def summarize(start: dt.date, end: dt.date, report: dict[str, Sums]) -> dict[str, Any]:
    """The ledger's sums as the answer: totals, every day of the range (empty ones too), the breakdowns."""
    totals = {figure: sum(day[figure] for day in report["by_day"].values()) for figure in FIGURES}
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    return {
        "totals": _figures(totals),
        "by_day": [{"date": day, **_figures(report["by_day"].get(day, {}))} for day in days],
        **{name: {key: _figures(sums) for key, sums in sorted(report[name].items())}
           for name in ("by_tier", "by_model", "by_user", "by_organization") if name in report},
    }


def _figures(values: dict[str, int]) -> dict[str, Any]:
    figures: dict[str, Any] = {figure: values.get(figure, 0) for figure in FIGURES if figure != "cost_nusd"}
    figures["total_tokens"] = figures["prompt_tokens"] + figures["completion_tokens"]
    figures["cost_usd"] = round(values.get("cost_nusd", 0) / NANO, 9)
    return figures


def _date_range(start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    first = _date(start, "start_date") if start else today.replace(day=1)
    last = _date(end, "end_date") if end else today
    if last < first:
        raise GatewayError(400, "end_date: must not be before start_date", "invalid_request", "end_date")
    return first, last


def _date(value: str, param: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise GatewayError(400, f"{param}: must be a date YYYY-MM-DD; got {value!r}", "invalid_request",
                           param) from None
