"""Databases for tests: a fresh PostgreSQL database of their own (unique name, dropped after) on the server at
TIERGATE_TEST_POSTGRES (default: the local one, trust auth), or a SQLite file; both migrated to the newest schema."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from records.database import embedded_url
from records.schema import upgrade

SERVER_ENV = "TIERGATE_TEST_POSTGRES"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_server() -> str:
    return os.environ.get(SERVER_ENV, DEFAULT_SERVER)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(postgres_server(), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database(migrate: bool = True) -> Iterator[str]:
    """The URL of a new database on the test server, dropped (even with clients still connected) after."""
    name = f"tiergate_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"the tests need a PostgreSQL server at {postgres_server()} ({SERVER_ENV}); "
                           f".ci/run starts one: {exc}") from exc
    url = postgres_server().rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def sqlite_database(directory: Path, migrate: bool = True) -> Iterator[str]:
    url = embedded_url(directory)
    if migrate:
        upgrade(url)
    yield url
