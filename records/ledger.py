"""The ledger writer: drains the ledger stream into the database, in batches, acknowledging only what committed.

Every worker process runs one (a task on its loop), all in one consumer group, so the drain scales with the
workers and survives any of them. A batch is committed in one transaction where a request id already written
is skipped, so an entry delivered twice (a writer died between commit and acknowledgement, or a claim raced)
is written once. While the database is away, entries stay pending in Redis and are retried; entries a dead
writer held are claimed by the others (XAUTOCLAIM) once idle for CLAIM_IDLE_MS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from common import keys
from common.metrics import LEDGER_LAG, LEDGER_RECORDS
from records.repository import LedgerEntry, Records, audit_row, usage_row

log = logging.getLogger("tiergate.ledger")

BATCH = 500
BLOCK_MS = 200
#: After a batch smaller than BATCH, wait this long before the next: under light load a commit carries many
#: requests, not one (a transaction per request cost the worker's core more than the request itself).
LINGER_SECONDS = 0.25
CLAIM_IDLE_MS = 15_000
CLAIM_EVERY_SECONDS = 5.0
RETENTION_EVERY_SECONDS = 3600
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

Entry = tuple[bytes, dict[bytes, bytes]]


class LedgerWriter:
    def __init__(self, redis: aioredis.Redis, records: Records, consumer: str, retention_days: float,
                 claim_idle_ms: int = CLAIM_IDLE_MS) -> None:
        self._redis = redis
        self._claim_idle_ms = claim_idle_ms
        self._records = records
        self._consumer = consumer
        self._retention_seconds = retention_days * 86400
        self._backlog = True       # read our own pending entries first (a restart, a failed commit)
        self._next_claim = 0.0
        self._next_retention = 0.0

    async def run(self) -> None:
        """Drain until cancelled; Redis or the database being away is waited out, never fatal."""
        failures = 0
        while True:
            try:
                await self.drain_once()
                failures = 0
            except (RedisError, OSError, SQLAlchemyError) as exc:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                self._backlog = True
                log.warning("ledger writer: %s; entries stay in Redis, retrying in %.1fs", _brief(exc), delay)
                await asyncio.sleep(delay)

    async def drain_once(self) -> int:
        """Read one batch (our pending entries, claimed ones, or new ones), commit it, acknowledge it."""
        entries = await self._claimed() or await self._read()
        if entries:
            await self._commit(entries)
        await self._retention()
        if 0 < len(entries) < BATCH:
            await asyncio.sleep(LINGER_SECONDS)
        return len(entries)

    async def _read(self) -> list[Entry]:
        start = "0" if self._backlog else ">"
        try:
            reply = await self._redis.xreadgroup(keys.LEDGER_GROUP, self._consumer, {keys.LEDGER_STREAM: start},
                                                 count=BATCH, block=None if self._backlog else BLOCK_MS)
        except ResponseError as exc:
            if not _no_group(exc):
                raise
            await ensure_group(self._redis)  # first start, or Redis lost the group (a flush, a restart)
            return []
        entries: list[Entry] = reply[0][1] if reply else []
        if self._backlog and not entries:
            self._backlog = False
        return entries

    async def _claimed(self) -> list[Entry]:
        """Entries another writer took and left unacknowledged for a while: it died, or cannot commit."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + CLAIM_EVERY_SECONDS
        try:
            reply = await self._redis.xautoclaim(keys.LEDGER_STREAM, keys.LEDGER_GROUP, self._consumer,
                                                 self._claim_idle_ms, "0-0", count=BATCH)
        except ResponseError as exc:
            if not _no_group(exc):
                raise
            return []
        claimed: list[Entry] = reply[1]
        if claimed:
            log.info("ledger writer: claimed %d entries a stopped writer had left", len(claimed))
        return claimed

    async def _commit(self, entries: list[Entry]) -> None:
        ids = [entry_id for entry_id, _ in entries]
        batch = [decoded for entry_id, fields in entries if (decoded := _decode(entry_id, fields)) is not None]
        try:
            await self._records.append(batch)
        except (DataError, IntegrityError) as exc:  # one bad entry must not hold back the rest: write one by one
            log.error("ledger writer: a batch was refused (%s); writing its entries one by one", _brief(exc))
            for entry in batch:
                try:
                    await self._records.append([entry])
                except (DataError, IntegrityError) as single:
                    log.error("ledger writer: dropped the record of %s: %s", _request_id(entry), _brief(single))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.LEDGER_STREAM, keys.LEDGER_GROUP, *ids)
            pipe.xdel(keys.LEDGER_STREAM, *ids)  # committed: the database has it, Redis need not keep it
            await pipe.execute()
        now = time.time()
        for entry_id in ids:
            LEDGER_LAG.observe(max(0.0, now - int(entry_id.split(b"-")[0]) / 1000))
        LEDGER_RECORDS.inc(len(ids))

    async def _retention(self) -> None:
        """Once an interval, by one writer of all: delete the audit records past `audit.retention_days`."""
        now = time.monotonic()
        if now < self._next_retention:
            return
        self._next_retention = now + RETENTION_EVERY_SECONDS
        if not await self._redis.set(keys.RETENTION_LOCK, self._consumer, nx=True, ex=RETENTION_EVERY_SECONDS):
            return
        deleted = await self._records.delete_audit_before(time.time() - self._retention_seconds)
        if deleted:
            log.info("ledger writer: deleted %d audit records past their retention", deleted)


def _no_group(exc: ResponseError) -> bool:
    # The embedded Redis of `tiergate up` (fakeredis) words a missing stream differently from Redis's NOGROUP.
    return "NOGROUP" in str(exc) or "requires the key to exist" in str(exc)


async def ensure_group(redis: aioredis.Redis) -> None:
    """The consumer group, reading the stream from its start (entries added before the group are drained too)."""
    try:
        await redis.xgroup_create(keys.LEDGER_STREAM, keys.LEDGER_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _decode(entry_id: bytes, fields: dict[bytes, bytes] | None) -> LedgerEntry | None:
    if not fields:  # deleted while pending: nothing left to write
        return None
    try:
        usage = orjson.loads(fields[b"usage"]) if b"usage" in fields else None
        audit = orjson.loads(fields[b"audit"]) if b"audit" in fields else None
        if usage:  # a malformed entry is dropped here, not retried forever
            usage_row(usage)
        if audit:
            audit_row(audit)
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        log.error("ledger writer: entry %s is malformed (%s); dropped", entry_id.decode(), _brief(exc))
        return None
    return LedgerEntry(usage, audit)


def _request_id(entry: LedgerEntry) -> str:
    return str((entry.usage or entry.audit or {}).get("request_id"))


def _brief(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}"


async def run_writer(redis_url: str, database_url: str, consumer: str, retention_days: float) -> None:
    """A writer with its own connections (its blocking reads hold one), until cancelled."""
    redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2)
    records = Records.connect(database_url)
    writer = LedgerWriter(redis, records, consumer, retention_days)
    try:
        await writer.run()
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()
        await records.close()
