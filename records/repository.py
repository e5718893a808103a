"""Every query of the system of record, written once; the API, the ledger writer and the CLI share them."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from records.database import create_engine
from records.models import ApiKeyRow, AuditRow, OrganizationRow, UsageRollupRow, UsageRow

FIGURES = ("requests", "prompt_tokens", "completion_tokens", "cost_nusd", "cache_hits", "errors")
#: The rollup's breakdowns and the report's names for them ("total" rows give by_day and by_organization).
DIMENSIONS = {"tier": "by_tier", "model": "by_model", "user": "by_user"}


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    organization_id: str
    name: str
    created: float
    revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "organization_id": self.organization_id, "name": self.name,
                "created": self.created, "revoked": self.revoked}


@dataclass(frozen=True)
class OrganizationRecord:
    organization_id: str
    plan: str
    name: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class AuditFilter:
    organization_id: str | None = None
    start: float | None = None      # epoch seconds, inclusive
    end: float | None = None        # epoch seconds, inclusive
    status: int | None = None
    min_status: int | None = None   # e.g. 500: the failures (the dashboard's recent errors)
    request_id: str | None = None
    model: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger writer drains for one request: its usage (accepted requests) and its audit record."""

    usage: dict[str, Any] | None
    audit: dict[str, Any] | None


class Records:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self._dialect = engine.dialect.name

    @classmethod
    def connect(cls, url: str) -> Records:
        return cls(create_engine(url))

    async def close(self) -> None:
        await self.engine.dispose()

    def _insert(self, model: type[Any]) -> Any:
        return (postgresql if self._dialect == "postgresql" else sqlite).insert(model)

    # --- organizations -----------------------------------------------------------------------------

    async def save_organization(self, record: OrganizationRecord, now: float) -> None:
        values = {"organization_id": record.organization_id, "plan": record.plan, "name": record.name,
                  "overrides": record.overrides, "created_at": now, "updated_at": now}
        statement = self._insert(OrganizationRow).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[OrganizationRow.organization_id],
            set_={"plan": record.plan, "name": record.name, "overrides": record.overrides, "updated_at": now})
        async with self._session.begin() as session:
            await session.execute(statement)

    async def organizations(self) -> list[OrganizationRecord]:
        async with self._session() as session:
            rows = (await session.scalars(select(OrganizationRow))).all()
        return [OrganizationRecord(r.organization_id, r.plan, r.name, dict(r.overrides)) for r in rows]

    # --- keys --------------------------------------------------------------------------------------

    async def add_key(self, key: KeyRecord, key_hash: str) -> None:
        async with self._session.begin() as session:
            session.add(ApiKeyRow(key_id=key.key_id, key_hash=key_hash, organization_id=key.organization_id,
                                  name=key.name, created_at=key.created, revoked_at=None))

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        async with self._session() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
        return _key(row) if row else None

    async def keys(self, organization_id: str | None = None) -> list[KeyRecord]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.key_id)
        if organization_id:
            query = query.where(ApiKeyRow.organization_id == organization_id)
        async with self._session() as session:
            return [_key(row) for row in (await session.scalars(query)).all()]

    async def revoke_key(self, key_id: str, now: float) -> KeyRecord | None:
        async with self._session.begin() as session:
            await session.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
                                  .values(revoked_at=now))
            row = await session.get(ApiKeyRow, key_id)
            return _key(row) if row else None

    # --- the ledger --------------------------------------------------------------------------------

    async def append(self, entries: Sequence[LedgerEntry]) -> int:
        """Write a batch in one transaction; a request id already written is skipped (a redelivered entry never
        counts twice), and the rollup grows by the rows that were new. Returns how many those were."""
        usage = _unique([usage_row(e.usage) for e in entries if e.usage])
        audit = _unique([audit_row(e.audit) for e in entries if e.audit])
        if not usage and not audit:
            return 0
        added: list[dict[str, Any]] = []
        # Statements executed with a list of rows: compiled once and cached (a .values(rows) statement is compiled
        # anew for every batch, which cost more CPU than everything else the writer does).
        # Core, not the ORM's bulk path (which sorts every row's keys again).
        async with self.engine.begin() as connection:
            if usage:
                inserted = await connection.execute(
                    self._insert(UsageRow.__table__).on_conflict_do_nothing().returning(UsageRow.request_id), usage)
                new = set(inserted.scalars().all())
                added = [row for row in usage if row["request_id"] in new]
            if added:
                await connection.execute(self._add_to_rollup(), rollup_rows(added))
            if audit:
                await connection.execute(self._insert(AuditRow.__table__).on_conflict_do_nothing(), audit)
        return len(added)

    def _add_to_rollup(self) -> Any:
        table = UsageRollupRow.__table__
        statement = self._insert(table)
        return statement.on_conflict_do_update(
            index_elements=[table.c.organization_id, table.c.day, table.c.dimension, table.c.key],
            set_={name: table.c[name] + statement.excluded[name] for name in FIGURES})

    async def spend_nusd(self, organization_id: str, first: dt.date, last: dt.date) -> int:
        """What an organization spent between two days (inclusive): the source of its month's hot counter."""
        query = select(func.coalesce(func.sum(UsageRollupRow.cost_nusd), 0)).where(
            UsageRollupRow.organization_id == organization_id, UsageRollupRow.dimension == "total",
            UsageRollupRow.day >= first, UsageRollupRow.day <= last)
        async with self._session() as session:
            return int(await session.scalar(query) or 0)

    async def usage_report(self, organization_id: str | None, first: dt.date,
                           last: dt.date) -> dict[str, dict[str, dict[str, int]]]:
        """Sums of FIGURES by day, tier, model and organization over a day range (inclusive), and by user for one
        organization (user ids belong to organizations; summing them across all would read a row per user and
        day). From the rollup: two grouped queries over days, not over every request."""
        sums = [func.sum(getattr(UsageRollupRow, name)) for name in FIGURES]
        where = [UsageRollupRow.day >= first, UsageRollupRow.day <= last]
        dimensions = list(DIMENSIONS)
        if organization_id is not None:
            where.append(UsageRollupRow.organization_id == organization_id)
        else:
            dimensions.remove("user")
        by_key = (select(UsageRollupRow.dimension, UsageRollupRow.key, *sums)
                  .where(*where, UsageRollupRow.dimension.in_(dimensions))
                  .group_by(UsageRollupRow.dimension, UsageRollupRow.key))
        by_org_day = (select(UsageRollupRow.organization_id, UsageRollupRow.day, *sums)
                      .where(*where, UsageRollupRow.dimension == "total")
                      .group_by(UsageRollupRow.organization_id, UsageRollupRow.day))
        report: dict[str, dict[str, dict[str, int]]] = {
            name: {} for name in ("by_day", *(DIMENSIONS[d] for d in dimensions), "by_organization")}
        async with self._session() as session:
            for dimension, key, *values in await session.execute(by_key):
                report[DIMENSIONS[dimension]][key] = _figures(values)
            for organization, day, *values in await session.execute(by_org_day):
                figures = _figures(values)
                _add(report["by_day"].setdefault(_label(day), dict.fromkeys(FIGURES, 0)), figures)
                _add(report["by_organization"].setdefault(organization, dict.fromkeys(FIGURES, 0)), figures)
        return report

    # --- the audit trail ---------------------------------------------------------------------------

    async def audit_page(self, where: AuditFilter, limit: int,
                         cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` records, newest first, and the cursor of the next page (None on the last one)."""
        query = _filtered(select(AuditRow.time, AuditRow.request_id, AuditRow.record), where)
        if cursor:
            query = query.where(tuple_(AuditRow.time, AuditRow.request_id) < tuple_(*_decode_cursor(cursor)))
        query = query.order_by(AuditRow.time.desc(), AuditRow.request_id.desc()).limit(limit + 1)
        async with self._session() as session:
            rows = (await session.execute(query)).all()
        page = rows[:limit]
        following = _encode_cursor(page[-1][0], page[-1][1]) if len(rows) > limit else None
        return [row[2] for row in page], following

    async def iter_audit(self, where: AuditFilter, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every matching record, oldest first, a batch per query (keyset pages: constant memory)."""
        after: tuple[float, str] | None = None
        while True:
            query = _filtered(select(AuditRow.time, AuditRow.request_id, AuditRow.record), where)
            if after:
                query = query.where(tuple_(AuditRow.time, AuditRow.request_id) > tuple_(*after))
            query = query.order_by(AuditRow.time, AuditRow.request_id).limit(batch)
            async with self._session() as session:
                rows = (await session.execute(query)).all()
            for row in rows:
                yield row[2]
            if len(rows) < batch:
                return
            after = (rows[-1][0], rows[-1][1])

    async def delete_audit_before(self, cutoff: float, batch: int = 5000) -> int:
        """Delete audit records older than `cutoff`, a batch per transaction (no long lock on a big table)."""
        deleted = 0
        while True:
            doomed = select(AuditRow.request_id).where(AuditRow.time < cutoff).limit(batch).scalar_subquery()
            async with self._session.begin() as session:
                result = await session.execute(delete(AuditRow).where(AuditRow.request_id.in_(doomed)))
            count = max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
            deleted += count
            if count < batch:
                return deleted


def usage_row(usage: dict[str, Any]) -> dict[str, Any]:
    """A ledger stream's usage as a row (the day is derived from the time, in UTC)."""
    time = float(usage["time"])
    user = usage.get("user_id")
    return {"request_id": str(usage["request_id"]), "organization_id": str(usage["organization_id"]),
            "user_id": str(user)[:256] if user else None, "key_id": usage.get("key_id"), "tier": str(usage["tier"]),
            "model": usage.get("model"), "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
            "cost_nusd": int(usage.get("cost_nusd") or 0), "cache_hit": bool(usage.get("cache_hit")),
            "status": int(usage.get("status") or 200), "latency_ms": float(usage.get("latency_ms") or 0.0),
            "time": time, "day": dt.datetime.fromtimestamp(time, dt.UTC).date()}


def audit_row(record: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": str(record["request_id"]), "time": float(record["time"]),
            "organization_id": record.get("organization_id"), "key_id": record.get("key_id"),
            "status": int(record.get("status") or 0), "model": record.get("model"), "record": record}


def rollup_rows(usage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger rows summed per organization, day and breakdown, in key order (writers lock rollup rows in the
    same order, so two batches never deadlock)."""
    sums: dict[tuple[str, dt.date, str, str], dict[str, int]] = {}
    for row in usage:
        figures = {"requests": 1, "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
                   "cost_nusd": row["cost_nusd"], "cache_hits": int(row["cache_hit"]),
                   "errors": int(row["status"] >= 400)}
        keys = [("total", ""), ("tier", row["tier"]), ("model", row["model"] or "none")]
        if row["user_id"]:
            keys.append(("user", row["user_id"]))
        for dimension, key in keys:
            _add(sums.setdefault((row["organization_id"], row["day"], dimension, key), dict.fromkeys(FIGURES, 0)),
                 figures)
    return [{"organization_id": org, "day": day, "dimension": dimension, "key": key, **figures}
            for (org, day, dimension, key), figures in sorted(sums.items())]


def _add(into: dict[str, int], figures: dict[str, int]) -> None:
    for name, value in figures.items():
        into[name] += value


def _figures(values: Sequence[Any]) -> dict[str, int]:
    return dict(zip(FIGURES, (int(v or 0) for v in values), strict=True))


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per request id within a batch (a multi-row insert may not name a key twice on PostgreSQL)."""
    return list({row["request_id"]: row for row in reversed(rows)}.values())


def _filtered(query: Select[Any], where: AuditFilter) -> Select[Any]:
    conditions = [
        (where.organization_id, AuditRow.organization_id), (where.status, AuditRow.status),
        (where.request_id, AuditRow.request_id), (where.model, AuditRow.model), (where.key_id, AuditRow.key_id),
    ]
    for value, column in conditions:
        if value is not None:
            query = query.where(column == value)
    if where.min_status is not None:
        query = query.where(AuditRow.status >= where.min_status)
    if where.start is not None:
        query = query.where(AuditRow.time >= where.start)
    if where.end is not None:
        query = query.where(AuditRow.time <= where.end)
    return query


def _encode_cursor(time: float, request_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([time, request_id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        time, request_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return float(time), str(request_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadCursor("cursor: not a cursor this endpoint returned") from None


def _label(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _key(row: ApiKeyRow) -> KeyRecord:
    return KeyRecord(row.key_id, row.organization_id, row.name, row.created_at, row.revoked_at is not None)
