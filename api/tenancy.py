"""Organizations, their plans and their keys: config first, then what admins added at run time (Redis).

Keys are stored as SHA-256 hashes (they are long random tokens, so a fast hash is enough); lookups are
cached a few seconds in the process, which is how long a revocation may take to be honoured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from api.auth import Caller
from common import keys
from common.errors import GatewayError
from config import Settings
from config.settings import Organization, Plan

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class OrgPolicy:
    """What one organization may do: its plan merged with its own overrides."""

    organization_id: str
    plan: str
    max_tier: int
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None
    user_rpm: int | None
    monthly_budget_usd: float | None
    budget_soft_ratio: float
    budget_soft_max_tier: int


#: The master key acting for no named organization: the operator's own traffic, with no plan limits.
OPERATOR_POLICY = OrgPolicy(organization_id="default", plan="operator", max_tier=4, rpm=None, tpm=None,
                            max_concurrent=None, user_rpm=None, monthly_budget_usd=None, budget_soft_ratio=1.0,
                            budget_soft_max_tier=4)


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tenancy:
    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        self._settings = settings
        self._redis = redis
        self._master = (settings.general_settings.master_key or "").encode()
        self._callers: dict[str, tuple[float, Caller | None]] = {}
        self._runtime_orgs: tuple[float, dict[str, Organization]] = (0.0, {})

    # --- callers ---------------------------------------------------------------------------------

    async def caller_for(self, token: str) -> Caller:
        if self._master and hmac.compare_digest(token.encode(), self._master):
            return Caller("master", True, None)
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._callers.get(digest)
        if cached is None or cached[0] < now:
            cached = (now + CACHE_SECONDS, await self._load_caller(digest))
            if len(self._callers) > 50_000:
                self._callers.clear()
            self._callers[digest] = cached
        if cached[1] is None:
            raise GatewayError(401, "invalid API key", "invalid_api_key")
        return cached[1]

    async def _load_caller(self, digest: str) -> Caller | None:
        key_id = await self._redis.get(keys.api_key_by_hash(digest))
        if key_id is None:
            return None
        record = await self._redis.hgetall(keys.api_key(key_id.decode()))
        if not record or record.get(b"revoked") == b"1":
            return None
        return Caller(key_id.decode(), False, record[b"organization_id"].decode())

    # --- keys ------------------------------------------------------------------------------------

    async def create_key(self, organization_id: str, name: str) -> tuple[str, dict[str, Any]]:
        """A new key for an organization; the key itself is returned once and never stored."""
        token = "sk-tg-" + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(8)
        record = {"key_id": key_id, "organization_id": organization_id, "name": name[:100],
                  "created": time.time(), "revoked": 0}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.api_key(key_id), mapping={k: str(v) for k, v in record.items()})
            pipe.set(keys.api_key_by_hash(hash_key(token)), key_id)
            pipe.sadd(keys.organization_keys(organization_id), key_id)
            await pipe.execute()
        return token, record

    async def list_keys(self, organization_id: str | None) -> list[dict[str, Any]]:
        if organization_id:
            ids = await self._redis.smembers(keys.organization_keys(organization_id))
        else:
            ids = {k.decode().rsplit(":", 1)[1].encode()
                   async for k in self._redis.scan_iter(match=keys.api_key("key_*"), count=1000)}
        records = []
        for key_id in sorted(ids):
            raw = await self._redis.hgetall(keys.api_key(key_id.decode()))
            if raw:
                records.append(_key_record(raw))
        return records

    async def revoke_key(self, key_id: str) -> dict[str, Any] | None:
        if not await self._redis.exists(keys.api_key(key_id)):
            return None
        await self._redis.hset(keys.api_key(key_id), "revoked", "1")
        self._callers.clear()  # this process honours it at once; others within CACHE_SECONDS
        return _key_record(await self._redis.hgetall(keys.api_key(key_id)))

    # --- organizations -----------------------------------------------------------------------------

    async def organizations(self, fresh: bool = False) -> dict[str, Organization]:
        """Config organizations and those added at run time (cached; `fresh` reads Redis, for admin calls that
        must see what another API process has just added)."""
        now = time.monotonic()
        expires, runtime = self._runtime_orgs
        if fresh or expires < now:
            raw = await self._redis.hgetall(keys.RUNTIME_ORGANIZATIONS)
            runtime = {k.decode(): _stored_organization(v) for k, v in raw.items()}
            self._runtime_orgs = (now + CACHE_SECONDS, runtime)
        return {**self._settings.organizations, **runtime}

    async def add_organization(self, organization_id: str, organization: Organization) -> None:
        if organization.plan not in self._settings.plans:
            raise GatewayError(400, f"plan: unknown plan {organization.plan!r}; known: "
                               f"{', '.join(self._settings.plans)}", "invalid_request", "plan")
        await self._redis.hset(keys.RUNTIME_ORGANIZATIONS, organization_id, organization.model_dump_json())
        self._runtime_orgs = (0.0, {})

    async def policy(self, organization_id: str, fresh: bool = False) -> OrgPolicy | None:
        """The organization's effective limits; None when it is unknown and no default plan is configured."""
        org = (await self.organizations(fresh)).get(organization_id)
        if org is None and not fresh and self._runtime_orgs[0] - CACHE_SECONDS < time.monotonic() - 0.1:
            # Unknown here: another API process may have just added it (re-read at most ten times a second).
            org = (await self.organizations(fresh=True)).get(organization_id)
        plan_name = org.plan if org else self._settings.default_plan
        if plan_name is None:
            return None
        return effective_policy(organization_id, plan_name, self._settings.plans[plan_name], org)


def effective_policy(organization_id: str, plan_name: str, plan: Plan, org: Organization | None) -> OrgPolicy:
    """The plan's limits with every limit the organization overrides in their place."""
    override = org.model_dump(exclude_none=True) if org else {}

    def pick(name: str) -> Any:
        return override.get(name, getattr(plan, name))

    max_tier = pick("max_tier")
    soft_max_tier = pick("budget_soft_max_tier") or max(1, max_tier - 1)
    return OrgPolicy(
        organization_id=organization_id, plan=plan_name, max_tier=max_tier, rpm=pick("rpm"), tpm=pick("tpm"),
        max_concurrent=pick("max_concurrent"), user_rpm=pick("user_rpm"),
        monthly_budget_usd=pick("monthly_budget_usd"), budget_soft_ratio=pick("budget_soft_ratio"),
        budget_soft_max_tier=min(soft_max_tier, max_tier),
    )


def _stored_organization(raw: bytes) -> Organization:
    """An organization as an admin stored it; keys a later version no longer knows are left out."""
    data = orjson.loads(raw)
    return Organization.model_validate({k: v for k, v in data.items() if k in Organization.model_fields})


def _key_record(raw: dict[bytes, bytes]) -> dict[str, Any]:
    record = {k.decode(): v.decode() for k, v in raw.items()}
    return {"key_id": record["key_id"], "organization_id": record["organization_id"], "name": record.get("name", ""),
            "created": float(record["created"]), "revoked": record.get("revoked") == "1"}
