"""Where the records live: `DATABASE_URL` (PostgreSQL), or a SQLite file for the embedded mode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ENV = "DATABASE_URL"
DEFAULT_DATA_DIR = ".tiergate"
SQLITE_FILE = "tiergate.db"


class DatabaseNotConfigured(RuntimeError):
    pass


def embedded_url(data_dir: str | Path) -> str:
    """The SQLite file of the embedded mode, in `data_dir` (created when missing)."""
    path = Path(data_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{path / SQLITE_FILE}"


def async_url(url: str) -> str:
    """The URL with its async driver: postgresql:// (and postgres://) → asyncpg, sqlite:// → aiosqlite."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def database_url(environ: dict[str, str] | None = None, *, embedded_dir: str | Path | None = None) -> str:
    """`DATABASE_URL`, else the embedded SQLite file in `embedded_dir`; neither is an error that says what to set."""
    url = (environ if environ is not None else os.environ).get(ENV)
    if url:
        return async_url(url)
    if embedded_dir is not None:
        return embedded_url(embedded_dir)
    raise DatabaseNotConfigured(
        f"no database: set {ENV} (e.g. postgresql://user:password@host:5432/tiergate), or pass --embedded-db "
        f"to keep the records in a SQLite file in --data-dir (one machine only)")


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for either database; SQLite gets WAL and a busy timeout, so the API and worker processes
    of one machine can write the same file."""
    url = async_url(url)
    options.setdefault("json_serializer", _json)  # the audit records: orjson, not the standard library's
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 10)
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **options)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
