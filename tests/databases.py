"""Databases for tests: a fresh PostgreSQL database of their own (unique name, dropped after) on the server at
TIERGATE_TEST_POSTGRES (default: the local one, trust auth), or a SQLite file; both migrated to the newest schema."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
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


class PrivatePostgres:
    """A PostgreSQL server of the test's own on a free port, which the test may stop and start (the shared one
    must not be touched). PostgreSQL refuses to run as root: as root, its commands run as user postgres."""

    def __init__(self) -> None:
        from cli.local_redis import free_port

        # Directly under the temp dir: user postgres must reach it (pytest's tmp_path is private to root).
        self.directory = Path(tempfile.mkdtemp(prefix="tiergate-pg-"))
        self.data = self.directory / "pgdata"
        self.port = free_port()

    @staticmethod
    def binaries() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
        return found[-1].parent

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> PrivatePostgres:
        bin_dir = self.binaries()
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        if not self.data.exists():
            self._run(str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.directory / "server.log"),
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def stop(self) -> None:
        self._run(str(self.binaries() / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str = "tiergate") -> str:
        async def create() -> None:
            connection = await asyncpg.connect(self.server_url, timeout=10)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(create())
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        upgrade(url)
        return url
