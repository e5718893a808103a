"""/ai/admin/...: organizations, their keys and the audit trail. Master key only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import authenticate, check_organization_id, require_master
from api.completions import read_body
from api.errors import error_response
from api.state import Gateway
from api.validation import parse_json_object
from common.errors import GatewayError, records_unavailable
from config.settings import Organization
from records.repository import AuditFilter, BadCursor

Handler = Callable[[Request, Gateway], Awaitable[Response]]

MAX_AUDIT_PAGE = 10_000


def master_only(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        gateway: Gateway = request.app.state.gateway
        try:
            require_master(await authenticate(request, gateway.tenancy))
            return await handler(request, gateway)
        except GatewayError as exc:
            return error_response(exc)
        except (SQLAlchemyError, OSError):  # admin reads and writes need the database: say so, never a 500
            return error_response(records_unavailable())

    return endpoint


async def _json_body(request: Request, gateway: Gateway) -> dict[str, Any]:
    """The body as a JSON object, under the same size, time and nesting limits as a chat body."""
    server = gateway.settings.server
    raw = await read_body(request, server.max_body_bytes, server.body_timeout_seconds)
    return parse_json_object(raw, gateway.settings.security.max_json_depth)


@master_only
async def list_organizations(request: Request, gateway: Gateway) -> Response:
    organizations = await gateway.tenancy.organizations(fresh=True)
    data = []
    for org_id, org in sorted(organizations.items()):
        policy = await gateway.tenancy.policy(org_id)
        data.append({"organization_id": org_id, "name": org.name, "plan": org.plan,
                     "limits": policy.__dict__ if policy else None,
                     "spend_this_month_usd": await gateway.limiter.spend_usd(org_id),
                     "reserved_usd": await gateway.limiter.reserved_usd(org_id)})
    return JSONResponse({"object": "list", "data": data})


@master_only
async def create_organization(request: Request, gateway: Gateway) -> Response:
    body = await _json_body(request, gateway)
    org_id = check_organization_id(body.pop("organization_id", None), "organization_id")
    try:
        organization = Organization.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GatewayError(400, f"{where}: {first['msg']}", "invalid_request", where) from None
    await gateway.tenancy.add_organization(org_id, organization)
    return JSONResponse({"organization_id": org_id, **organization.model_dump()}, 201)


@master_only
async def create_key(request: Request, gateway: Gateway) -> Response:
    body = await _json_body(request, gateway)
    org_id = check_organization_id(body.get("organization_id"), "organization_id")
    if await gateway.tenancy.policy(org_id, fresh=True) is None:
        raise GatewayError(400, f"organization_id: unknown organization {org_id!r}", "invalid_request",
                           "organization_id")
    name = body.get("name", "")
    if not isinstance(name, str):
        raise GatewayError(400, "name: must be a string", "invalid_request", "name")
    token, record = await gateway.tenancy.create_key(org_id, name)
    return JSONResponse({**record, "key": token}, 201)


@master_only
async def list_keys(request: Request, gateway: Gateway) -> Response:
    org_id = request.query_params.get("organization_id")
    if org_id:
        check_organization_id(org_id, "organization_id")
    return JSONResponse({"object": "list", "data": await gateway.tenancy.list_keys(org_id)})


@master_only
async def revoke_key(request: Request, gateway: Gateway) -> Response:
    record = await gateway.tenancy.revoke_key(request.path_params["key_id"])
    if record is None:
        raise GatewayError(404, "no such key", "not_found", "key_id")
    return JSONResponse(record)


@master_only
async def list_audit(request: Request, gateway: Gateway) -> Response:
    """Newest first; `next` is the cursor of the following page (pass it back as `cursor`), null on the last."""
    params = request.query_params
    org_id = params.get("organization_id")
    if org_id:
        check_organization_id(org_id, "organization_id")
    where = AuditFilter(
        organization_id=org_id, start=_epoch(params.get("start_date"), "start_date"),
        end=_epoch(params.get("end_date"), "end_date", end_of_day=True), status=_int(params.get("status"), "status"),
        request_id=params.get("request_id"), model=params.get("model"), key_id=params.get("key_id"))
    limit = _int(params.get("limit"), "limit") or 100
    if not 1 <= limit <= MAX_AUDIT_PAGE:
        raise GatewayError(400, f"limit: must be 1 to {MAX_AUDIT_PAGE}", "invalid_request", "limit")
    try:
        records, following = await gateway.records.audit_page(where, limit, params.get("cursor"))
    except BadCursor as exc:
        raise GatewayError(400, str(exc), "invalid_request", "cursor") from None
    return JSONResponse({"object": "list", "data": records, "next": following})


def _epoch(value: str | None, param: str, end_of_day: bool = False) -> float | None:
    if not value:
        return None
    try:
        day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time.max if end_of_day else dt.time.min, dt.UTC)
    except ValueError:
        raise GatewayError(400, f"{param}: must be a date YYYY-MM-DD", "invalid_request", param) from None
    return day.timestamp()


def _int(value: str | None, param: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise GatewayError(400, f"{param}: must be an integer", "invalid_request", param) from None
