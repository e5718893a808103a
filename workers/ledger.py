"""Each worker process drains the ledger stream into the database beside its jobs (records/ledger.py)."""

from __future__ import annotations

import logging

from config import Settings
from records.database import DatabaseNotConfigured, database_url
from records.ledger import run_writer

log = logging.getLogger("tiergate.worker")


async def drain_ledger(redis_url: str, worker_id: str, settings: Settings) -> None:
    try:
        url = database_url()
    except DatabaseNotConfigured as exc:  # `tiergate worker` refuses to start so; a bare Celery worker may not
        log.error("this worker writes no records: %s; they wait in Redis for a worker that can", exc)
        return
    await run_writer(redis_url, url, worker_id, settings.audit.retention_days)
