"""`tiergate db upgrade|check`, and the database each role starts with (checked before it serves anything)."""

from __future__ import annotations

import argparse
import os
import sys

from common.urls import redacted
from records.database import DEFAULT_DATA_DIR, ENV, DatabaseNotConfigured, database_url
from records.schema import SchemaBehind, check, upgrade


class DatabaseUnready(RuntimeError):
    """The role cannot start: no database configured, or its schema is behind (the message says what to do)."""


def add_db_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="the database of records (DATABASE_URL, or --embedded-db)")
    actions = db.add_subparsers(dest="db_command", required=True)
    for name, run, text in (("upgrade", _run_upgrade, "apply the migrations (safe to run again)"),
                            ("check", _run_check, "exit 0 when the schema is current, 2 when it is behind")):
        action = actions.add_parser(name, help=text)
        add_database_options(action)
        action.set_defaults(run=run)


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embedded-db", action="store_true",
                        help=f"with no {ENV}: keep the records in a SQLite file in --data-dir (one machine only)")
    parser.add_argument("--data-dir", default=os.environ.get("TIERGATE_DATA_DIR", DEFAULT_DATA_DIR),
                        help="where the embedded SQLite file lives (default ./.tiergate/)")


def resolve(args: argparse.Namespace, embedded: bool | None = None) -> str:
    """The database URL of this command, exported as DATABASE_URL so the processes it starts use the same one."""
    use_embedded = args.embedded_db if embedded is None else embedded
    try:
        url = database_url(embedded_dir=args.data_dir if use_embedded else None)
    except DatabaseNotConfigured as exc:
        raise DatabaseUnready(str(exc)) from None
    os.environ[ENV] = url
    return url


def ready(args: argparse.Namespace, *, migrate_embedded: bool = False) -> str:
    """The role's database, at the newest schema or refused; `up` migrates its own embedded file itself."""
    embedded = args.embedded_db or (migrate_embedded and not os.environ.get(ENV))
    url = resolve(args, embedded)
    if migrate_embedded and url.startswith("sqlite"):
        upgrade(url)
        return url
    try:
        check(url)
    except SchemaBehind as exc:
        raise DatabaseUnready(str(exc)) from None
    except OSError as exc:
        raise DatabaseUnready(f"the database {redacted(url)} does not answer: {exc}") from None
    return url


def _run_upgrade(args: argparse.Namespace) -> int:
    url = _url_or_exit(args)
    upgrade(url)
    print(f"tiergate: the database {redacted(url)} is at the newest schema", file=sys.stderr)
    return 0


def _run_check(args: argparse.Namespace) -> int:
    url = _url_or_exit(args)
    try:
        check(url)
    except SchemaBehind as exc:
        print(f"tiergate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"tiergate: the database {redacted(url)} does not answer: {exc}", file=sys.stderr)
        return 2
    print("tiergate: the database schema is current", file=sys.stderr)
    return 0


def _url_or_exit(args: argparse.Namespace) -> str:
    try:
        return resolve(args)
    except DatabaseUnready as exc:
        print(f"tiergate: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
