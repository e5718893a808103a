"""Who is calling: the bearer token names the caller, and the caller names the organization."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from common.errors import GatewayError

if TYPE_CHECKING:
    from api.tenancy import Tenancy

OPERATOR_ORGANIZATION = "default"
ORGANIZATION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Caller:
    key_id: str               # never the key itself: safe for logs and the audit trail
    is_master: bool
    organization_id: str | None  # bound organization for org keys; None for the master key


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GatewayError(401, "missing bearer token: send 'Authorization: Bearer <key>'", "invalid_api_key")
    return token.strip()


def require_token(request: Request, expected: str) -> None:
    """A fixed bearer token (e.g. /metrics' scrape token), compared in constant time."""
    if not hmac.compare_digest(bearer_token(request).encode(), expected.encode()):
        raise GatewayError(401, "wrong bearer token", "invalid_api_key")


async def authenticate(request: Request, tenancy: Tenancy) -> Caller:
    return await tenancy.caller_for(bearer_token(request))


def require_master(caller: Caller) -> None:
    if not caller.is_master:
        raise GatewayError(403, "this endpoint needs the master key", "forbidden")


def check_organization_id(value: Any, param: str = "metadata.organization_id") -> str:
    if not isinstance(value, str) or not ORGANIZATION_ID.match(value):
        raise GatewayError(400, f"{param}: must be 1-64 letters, digits, '_', '-' or '.'", "invalid_request", param)
    return value


def acting_organization(caller: Caller, metadata: dict[str, Any]) -> str:
    """The organization a request acts for: the key's own, never another one named in the body."""
    named = metadata.get("organization_id")
    if named is not None:
        check_organization_id(named)
    if caller.is_master:
        return named or OPERATOR_ORGANIZATION
    assert caller.organization_id is not None
    if named and named != caller.organization_id:
        raise GatewayError(403, "metadata.organization_id: this key belongs to another organization",
                           "organization_mismatch", "metadata.organization_id")
    return caller.organization_id


def scoped_organization(caller: Caller, requested: str | None) -> str | None:
    """For read endpoints: an org key sees only its own organization; the master key any (None: all)."""
    if caller.is_master:
        return check_organization_id(requested, "organization_id") if requested else None
    if requested and requested != caller.organization_id:
        raise GatewayError(403, "organization_id: this key belongs to another organization",
                           "organization_mismatch", "organization_id")
    return caller.organization_id
