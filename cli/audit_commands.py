"""`tiergate audit export`: the audit trail as JSON Lines, straight from Redis."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import TextIO

import orjson
import redis.asyncio as aioredis

from common.audit import iter_audit
from common.redis_url import redis_url


def add_audit_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    export = actions.add_parser("export", help="audit records as JSON Lines")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    export.add_argument("--organization-id", default=None)
    export.add_argument("--start-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (UTC)")
    export.add_argument("--end-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (UTC), inclusive")
    export.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        count = asyncio.run(_export(out, args.organization_id, args.start_date, args.end_date))
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tiergate: exported {count} audit records", file=sys.stderr)
    return 0


async def _export(out: TextIO, organization_id: str | None, start: dt.date | None, end: dt.date | None) -> int:
    redis = aioredis.Redis.from_url(redis_url())
    start_ts = dt.datetime.combine(start, dt.time.min, dt.UTC).timestamp() if start else None
    end_ts = dt.datetime.combine(end, dt.time.max, dt.UTC).timestamp() if end else None
    count = 0
    try:
        async for record in iter_audit(redis, start_ts, end_ts):
            if organization_id is None or record.get("organization_id") == organization_id:
                out.write(orjson.dumps(record).decode() + "\n")
                count += 1
    finally:
        await redis.aclose()
    return count
