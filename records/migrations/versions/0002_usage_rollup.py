"""The usage rollup: the ledger summed per organization, day and breakdown, filled from the ledger as it stands.

Revision ID: 0002_usage_rollup
Revises: 0001_records
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_usage_rollup"
down_revision = "0001_records"
branch_labels = None
depends_on = None

SUMS = ("count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost_nusd), "
        "sum(CASE WHEN cache_hit THEN 1 ELSE 0 END), sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END)")
BREAKDOWNS = (("total", "''"), ("tier", "tier"), ("model", "coalesce(model, 'none')"), ("user", "user_id"))


def upgrade() -> None:
    op.create_table(
        "usage_rollup",
        sa.Column("organization_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("dimension", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in
          ("requests", "prompt_tokens", "completion_tokens", "cost_nusd", "cache_hits", "errors")),
    )
    op.create_index("ix_usage_rollup_day", "usage_rollup", ["day", "dimension"])
    for dimension, key in BREAKDOWNS:
        where = " WHERE user_id IS NOT NULL" if dimension == "user" else ""
        grouped = "" if dimension == "total" else f", {key}"
        op.execute(f"INSERT INTO usage_rollup SELECT organization_id, day, '{dimension}', {key}, {SUMS} "
                   f"FROM usage_ledger{where} GROUP BY organization_id, day{grouped}")


def downgrade() -> None:
    op.drop_table("usage_rollup")
