"""Organizations, their plans and their keys: config first, then what admins added at run time (the database).

Keys are stored as SHA-256 hashes (they are long random tokens, so a fast hash is enough). Lookups are cached a
few seconds in the process; an admin write tells every API process to drop its cache at once (pub/sub), and the
expiry bounds how long a missed message may keep a revoked key working. A cache miss reads the database, so a
Redis that lost everything costs no key and no organization.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from api.auth import Caller
from common import keys
from common.errors import GatewayError, records_unavailable
from config import Settings
from config.settings import Organization, Plan
from records.repository import KeyRecord, OrganizationRecord, Records

log = logging.getLogger("tiergate.tenancy")

CACHE_SECONDS = 5.0
#: The database unreachable: a cached caller or organization is kept this much longer, again and again.
STALE_GRACE_SECONDS = 5.0


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
    def __init__(self, settings: Settings, redis: aioredis.Redis, records: Records) -> None:
        self._settings = settings
        self._redis = redis
        self._records = records
        self._master = (settings.general_settings.master_key or "").encode()
        self._callers: dict[str, tuple[float, Caller | None]] = {}
        self._runtime_orgs: tuple[float, dict[str, Organization]] = (0.0, {})
        #: Known organizations' effective policies, valid as long as `_runtime_orgs` (a request asks for one each
        #: time; merging the plan with the overrides costs ~20 us, a look-up well under 1).
        self._policies: dict[str, OrgPolicy] = {}

    # --- callers ---------------------------------------------------------------------------------

    async def caller_for(self, token: str) -> Caller:
        if self._master and hmac.compare_digest(token.encode(), self._master):
            return Caller("master", True, None)
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._callers.get(digest)
        if cached is None or cached[0] < now:
            cached = (now + CACHE_SECONDS, await self._load_caller(digest, cached))
            if len(self._callers) > 50_000:
                self._callers.clear()
            self._callers[digest] = cached
        if cached[1] is None:
            raise GatewayError(401, "invalid API key", "invalid_api_key")
        return cached[1]

    async def _load_caller(self, digest: str, stale: tuple[float, Caller | None] | None) -> Caller | None:
        try:
            key = await self._records.key_by_hash(digest)
        except (SQLAlchemyError, OSError) as exc:
            if stale is not None:  # the database is away: a key known a moment ago still is
                return stale[1]
            log.warning("cannot look up a key: the database does not answer (%s)", type(exc).__name__)
            raise records_unavailable() from None
        if key is None or key.revoked:
            return None
        return Caller(key.key_id, False, key.organization_id)

    # --- keys ------------------------------------------------------------------------------------

    async def create_key(self, organization_id: str, name: str) -> tuple[str, dict[str, Any]]:
        """A new key for an organization; the key itself is returned once and never stored."""
        token = "sk-tg-" + secrets.token_urlsafe(32)
        key = KeyRecord("key_" + secrets.token_hex(8), organization_id, name[:100], time.time(), False)
        await self._records.add_key(key, hash_key(token))
        return token, key.to_dict()

    async def list_keys(self, organization_id: str | None) -> list[dict[str, Any]]:
        return [key.to_dict() for key in await self._records.keys(organization_id)]

    async def revoke_key(self, key_id: str) -> dict[str, Any] | None:
        key = await self._records.revoke_key(key_id, time.time())
        if key is None:
            return None
        await self._changed("keys")
        return key.to_dict()

    # --- organizations -----------------------------------------------------------------------------

    async def organizations(self, fresh: bool = False) -> dict[str, Organization]:
        """Config organizations and those added at run time (cached; `fresh` reads the database, for admin calls
        that must see what another API process has just added)."""
        now = time.monotonic()
        expires, runtime = self._runtime_orgs
        if fresh or expires < now:
            try:
                runtime = {o.organization_id: _stored_organization(o) for o in await self._records.organizations()}
                self._runtime_orgs = (now + CACHE_SECONDS, runtime)
                self._policies.clear()
            except (SQLAlchemyError, OSError) as exc:
                if fresh:
                    raise records_unavailable() from exc
                self._runtime_orgs = (now + STALE_GRACE_SECONDS, runtime)  # keep serving what was known
        return {**self._settings.organizations, **runtime}

    async def add_organization(self, organization_id: str, organization: Organization) -> None:
        if organization.plan not in self._settings.plans:
            raise GatewayError(400, f"plan: unknown plan {organization.plan!r}; known: "
                               f"{', '.join(self._settings.plans)}", "invalid_request", "plan")
        overrides = organization.model_dump(exclude={"plan", "name"}, exclude_none=True)
        await self._records.save_organization(
            OrganizationRecord(organization_id, organization.plan, organization.name, overrides), time.time())
        await self._changed("organizations")

    # --- every API process hears of admin writes -----------------------------------------------------

    async def _changed(self, what: str) -> None:
        self.forget()  # this process at once; the others when they hear it, or when their cache expires
        try:
            await self._redis.publish(keys.RECORDS_CHANGED_CHANNEL, what)
        except RedisError as exc:
            log.warning("could not announce a change of %s (%s); other API processes see it within %.0fs",
                        what, type(exc).__name__, CACHE_SECONDS)

    def forget(self) -> None:
        self._callers.clear()
        self._runtime_orgs = (0.0, self._runtime_orgs[1])
        self._policies.clear()

    async def listen(self) -> None:
        """Drop the caches whenever any API process changed organizations or keys; reconnect after a Redis loss."""
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.RECORDS_CHANGED_CHANNEL)
                    self.forget()  # whatever changed while we were not listening
                    async for _message in pubsub.listen():
                        self.forget()
            except (RedisError, OSError):
                await asyncio.sleep(1.0)

    async def policy(self, organization_id: str, fresh: bool = False) -> OrgPolicy | None:
        """The organization's effective limits; None when it is unknown and no default plan is configured."""
        if not fresh and self._runtime_orgs[0] >= time.monotonic() and organization_id in self._policies:
            return self._policies[organization_id]
        org = (await self.organizations(fresh)).get(organization_id)
        if org is None and not fresh and self._runtime_orgs[0] - CACHE_SECONDS < time.monotonic() - 0.1:
            # Unknown here: another API process may have just added it (re-read at most ten times a second).
            org = (await self.organizations(fresh=True)).get(organization_id)
        plan_name = org.plan if org else self._settings.default_plan
        if plan_name is None:
            return None
        policy = effective_policy(organization_id, plan_name, self._settings.plans[plan_name], org)
        if org is not None:  # an unknown organization is looked for again (another API process may add it)
            self._policies[organization_id] = policy
        return policy


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


def _stored_organization(record: OrganizationRecord) -> Organization:
    """An organization as an admin stored it; overrides a later version no longer knows are left out."""
    overrides = {k: v for k, v in record.overrides.items() if k in Organization.model_fields}
    return Organization.model_validate({**overrides, "plan": record.plan, "name": record.name})
