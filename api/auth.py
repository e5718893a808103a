"""Who is calling: the bearer token names the caller, and the caller names the organization."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from common.errors import GatewayError

OPERATOR_ORGANIZATION = "default"


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


def authenticate(request: Request, master_key: str | None) -> Caller:
    token = bearer_token(request)
    if master_key and hmac.compare_digest(token.encode(), master_key.encode()):
        return Caller("master", True, None)
    raise GatewayError(401, "invalid API key", "invalid_api_key")


def require_master(caller: Caller) -> None:
    if not caller.is_master:
        raise GatewayError(403, "this endpoint needs the master key", "forbidden")


def acting_organization(caller: Caller, metadata: dict[str, Any]) -> str:
    """The organization a request acts for: the key's own, never another one named in the body."""
    named = metadata.get("organization_id")
    if named is not None and not isinstance(named, str):
        raise GatewayError(400, "metadata.organization_id: must be a string", "invalid_request",
                           "metadata.organization_id")
    if caller.is_master:
        return named or OPERATOR_ORGANIZATION
    assert caller.organization_id is not None
    if named and named != caller.organization_id:
        raise GatewayError(403, "metadata.organization_id: this key belongs to another organization",
                           "organization_mismatch", "metadata.organization_id")
    return caller.organization_id
