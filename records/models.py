"""The tables of the system of record, as typed SQLAlchemy 2 models (the Alembic revisions create them).

Times are epoch seconds (UTC) as doubles, the same in PostgreSQL and SQLite; `day` is the UTC date of `time`,
stored beside it so usage groups and ranges by day on an index in both. Money is integer nano-USD.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Double, Index, Integer, SmallInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
Document = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class OrganizationRow(Base):
    """An organization added at run time (`POST /ai/admin/organizations`); config organizations stay in the file."""

    __tablename__ = "organizations"

    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    #: the plan limits this organization overrides (rpm, tpm, max_concurrent, user_rpm, monthly_budget_usd, ...)
    overrides: Mapped[dict[str, Any]] = mapped_column(Document, default=dict)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


class ApiKeyRow(Base):
    """An organization key: its SHA-256 only, never the key."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[float] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class UsageRow(Base):
    """One request's usage and cost: written once (the request id is the key), summed by `/ai/usage`."""

    __tablename__ = "usage_ledger"
    __table_args__ = (Index("ix_usage_ledger_org_day", "organization_id", "day"), Index("ix_usage_ledger_day", "day"))

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tier: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost_nusd: Mapped[int] = mapped_column(BigInteger)
    cache_hit: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int] = mapped_column(SmallInteger)
    latency_ms: Mapped[float] = mapped_column(Double)
    time: Mapped[float] = mapped_column(Double)
    day: Mapped[dt.date] = mapped_column(Date)


class AuditRow(Base):
    """One request's audit record (accepted or refused): the filterable fields as columns, the record as stored."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_time", "time", "request_id"),
                      Index("ix_audit_records_org_time", "organization_id", "time"))

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    time: Mapped[float] = mapped_column(Double)
    organization_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[int] = mapped_column(SmallInteger)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    record: Mapped[dict[str, Any]] = mapped_column(Document)


class UsageRollupRow(Base):
    """The ledger summed per organization, day and breakdown ("total", or a tier, model or user), kept by the ledger
    writer in the transaction that adds the rows: `/ai/usage` reads sums of days, not every request."""

    __tablename__ = "usage_rollup"
    __table_args__ = (Index("ix_usage_rollup_day", "day", "dimension"),)

    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)   # total, tier, model, user
    key: Mapped[str] = mapped_column(String(256), primary_key=True)       # "" for total
    requests: Mapped[int] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_nusd: Mapped[int] = mapped_column(BigInteger)
    cache_hits: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
