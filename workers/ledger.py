"""Each worker process drains the ledger stream into the database beside its jobs (records/ledger.py), on a thread
and event loop of its own: a batch's JSON parsing and SQL compiling never hold up the loop that runs the jobs."""

from __future__ import annotations

import asyncio
import logging
import threading

from config import Settings
from records.database import DatabaseNotConfigured, database_url
from records.ledger import run_writer

log = logging.getLogger("tiergate.worker")


def start_ledger_writer(redis_url: str, worker_id: str, settings: Settings) -> threading.Thread | None:
    try:
        url = database_url()
    except DatabaseNotConfigured as exc:  # `tiergate worker` refuses to start so; a bare Celery worker may not
        log.error("this worker writes no records: %s; they wait in Redis for a worker that can", exc)
        return None
    thread = threading.Thread(target=asyncio.run, name="tiergate-ledger", daemon=True,
                              args=(run_writer(redis_url, url, worker_id, settings.audit.retention_days),))
    thread.start()
    return thread
