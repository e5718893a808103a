"""`tiergate audit export|prune`: the audit trail as JSON Lines streamed from the database; retention by hand."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from typing import TextIO

import orjson

from cli.db_commands import add_database_options, resolve
from config import load_settings
from records.repository import AuditFilter, Records


def add_audit_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    export = actions.add_parser("export", help="audit records as JSON Lines, oldest first")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    export.add_argument("--organization-id", default=None)
    export.add_argument("--start-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (UTC)")
    export.add_argument("--end-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (UTC), inclusive")
    add_database_options(export)
    export.set_defaults(run=_run_export)
    prune = actions.add_parser("prune", help="delete audit records older than audit.retention_days now "
                                             "(the workers' ledger writers also do it hourly)")
    add_database_options(prune)
    prune.set_defaults(run=_run_prune)


def _run_export(args: argparse.Namespace) -> int:
    start = dt.datetime.combine(args.start_date, dt.time.min, dt.UTC).timestamp() if args.start_date else None
    end = dt.datetime.combine(args.end_date, dt.time.max, dt.UTC).timestamp() if args.end_date else None
    where = AuditFilter(organization_id=args.organization_id, start=start, end=end)
    url = resolve(args)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        count = asyncio.run(_export(url, out, where))
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tiergate: exported {count} audit records", file=sys.stderr)
    return 0


async def _export(url: str, out: TextIO, where: AuditFilter) -> int:
    records = Records.connect(url)
    count = 0
    try:
        async for record in records.iter_audit(where):
            out.write(orjson.dumps(record).decode() + "\n")
            count += 1
    finally:
        await records.close()
    return count


def _run_prune(args: argparse.Namespace) -> int:
    days = load_settings().audit.retention_days
    deleted = asyncio.run(_prune(resolve(args), time.time() - days * 86400))
    print(f"tiergate: deleted {deleted} audit records older than {days:g} days", file=sys.stderr)
    return 0


async def _prune(url: str, cutoff: float) -> int:
    records = Records.connect(url)
    try:
        return await records.delete_audit_before(cutoff)
    finally:
        await records.close()
