"""The ledger writer on a real Redis and PostgreSQL: what it commits it acknowledges and deletes, a dead writer's
entries are claimed by a live one, a redelivered entry is written once, a malformed one does not block the rest."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from common import keys
from records.ledger import LedgerWriter, ensure_group
from records.repository import AuditFilter, Records
from tests.databases import postgres_database
from tests.harness import RedisProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def entry(org: str) -> dict[str, bytes]:
    request_id, now = uuid.uuid4().hex, time.time()
    usage = {"request_id": request_id, "organization_id": org, "user_id": None, "key_id": None, "tier": "tier1",
             "model": "tier1/m", "prompt_tokens": 3, "completion_tokens": 4, "cost_nusd": 10, "cache_hit": False,
             "status": 200, "latency_ms": 5.0, "time": now}
    audit = {"request_id": request_id, "time": now, "organization_id": org, "status": 200, "accepted": True}
    return {"usage": orjson.dumps(usage), "audit": orjson.dumps(audit)}


def run(redis_server: RedisProcess, database: str, test: Any) -> Any:
    async def main() -> Any:
        redis = aioredis.Redis.from_url(redis_server.url)
        records = Records.connect(database)
        await redis.flushdb()
        try:
            return await test(redis, records)
        finally:
            await redis.aclose()
            await records.close()

    return asyncio.run(main())


async def ledger(records: Records, org: str) -> tuple[int, int]:
    today = dt.datetime.now(dt.UTC).date()
    report = await records.usage_report(org, today - dt.timedelta(days=1), today)
    audit = [r async for r in records.iter_audit(AuditFilter(organization_id=org))]
    return report["by_organization"].get(org, {}).get("requests", 0), len(audit)


def test_a_dead_writers_entries_are_claimed_and_written_once(own_redis: RedisProcess, database: str) -> None:
    async def test(redis: aioredis.Redis, records: Records) -> None:
        await ensure_group(redis)
        for _ in range(5):
            await redis.xadd(keys.LEDGER_STREAM, entry("org_claimed"))
        taken = await redis.xreadgroup(keys.LEDGER_GROUP, "dead", {keys.LEDGER_STREAM: ">"}, count=100)
        assert len(taken[0][1]) == 5  # the dead writer holds them, unacknowledged
        await asyncio.sleep(0.2)
        live = LedgerWriter(redis, records, "live", retention_days=30, claim_idle_ms=100)
        while await live.drain_once():
            pass
        assert await ledger(records, "org_claimed") == (5, 5)
        assert await redis.xlen(keys.LEDGER_STREAM) == 0, "committed entries are deleted from Redis"
        assert (await redis.xpending(keys.LEDGER_STREAM, keys.LEDGER_GROUP))["pending"] == 0

    run(own_redis, database, test)


def test_an_entry_delivered_again_after_its_commit_is_not_written_twice(own_redis: RedisProcess,
                                                                       database: str) -> None:
    async def test(redis: aioredis.Redis, records: Records) -> None:
        writer = LedgerWriter(redis, records, "w", retention_days=30)
        await ensure_group(redis)
        fields = entry("org_twice")
        await redis.xadd(keys.LEDGER_STREAM, fields)
        await writer.drain_once()
        await redis.xadd(keys.LEDGER_STREAM, fields)  # a writer died between its commit and its XACK
        await writer.drain_once()
        assert await ledger(records, "org_twice") == (1, 1)

    run(own_redis, database, test)


def test_a_malformed_entry_is_dropped_and_the_batch_written(own_redis: RedisProcess, database: str) -> None:
    async def test(redis: aioredis.Redis, records: Records) -> None:
        writer = LedgerWriter(redis, records, "w", retention_days=30)
        await ensure_group(redis)
        await redis.xadd(keys.LEDGER_STREAM, entry("org_mixed"))
        await redis.xadd(keys.LEDGER_STREAM, {"usage": b"{not json", "audit": b"[]"})
        await redis.xadd(keys.LEDGER_STREAM, {"usage": orjson.dumps({"request_id": "x"})})  # no organization
        await redis.xadd(keys.LEDGER_STREAM, entry("org_mixed"))
        await writer.drain_once()  # creates the group's read
        while await writer.drain_once():
            pass
        assert await ledger(records, "org_mixed") == (2, 2)
        assert await redis.xlen(keys.LEDGER_STREAM) == 0

    run(own_redis, database, test)
