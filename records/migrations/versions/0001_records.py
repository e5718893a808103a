"""The system of record: organizations, API keys, the usage ledger and the audit trail.

Revision ID: 0001_records
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from records.models import Document

revision = "0001_records"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("organization_id", sa.String(64), primary_key=True),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("overrides", Document, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("organization_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
    )
    op.create_index("ix_api_keys_organization_id", "api_keys", ["organization_id"])
    op.create_table(
        "usage_ledger",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("organization_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
    )
    op.create_index("ix_usage_ledger_org_day", "usage_ledger", ["organization_id", "day"])
    op.create_index("ix_usage_ledger_day", "usage_ledger", ["day"])
    op.create_table(
        "audit_records",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("organization_id", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("record", Document, nullable=False),
    )
    op.create_index("ix_audit_records_time", "audit_records", ["time", "request_id"])
    op.create_index("ix_audit_records_org_time", "audit_records", ["organization_id", "time"])


def downgrade() -> None:
    op.drop_table("audit_records")
    op.drop_table("usage_ledger")
    op.drop_table("api_keys")
    op.drop_table("organizations")
