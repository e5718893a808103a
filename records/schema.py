"""Schema versions: apply the Alembic migrations, and tell at start whether a database is behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from common.urls import redacted
from records.database import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaBehind(RuntimeError):
    pass


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url  # not set_main_option: a password with '%' would break its parser
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to `revision` (idempotent: an up-to-date database is left as it is)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


async def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_revision)
    finally:
        await engine.dispose()


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check(url: str) -> None:
    """Raise SchemaBehind, saying what to run, unless the database is at the newest revision."""
    current = asyncio.run(current_revision(url))
    head = head_revision()
    if current != head:
        state = "has no tiergate schema" if current is None else f"is at revision {current}"
        raise SchemaBehind(f"the database {redacted(url)} {state}; this tiergate needs {head}: "
                           f"run `tiergate db upgrade` (with the same DATABASE_URL)")
