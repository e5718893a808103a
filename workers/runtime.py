"""Per worker process: one asyncio loop in a background thread holding every provider call.

Celery's thread pool hands each job to this loop and waits; the loop multiplexes hundreds of provider
calls over one pooled httpx client, one Redis connection pool, and one cancel subscription.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from typing import Any

import redis.asyncio as aioredis

from common import keys
from common.jobs import JobEnvelope
from config import Settings
from workers.execute import JobOutcome, JobRunner
from workers.http import new_client
from workers.resilience import Resilience

log = logging.getLogger("tiergate.worker")

HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TTL = 10


class WorkerRuntime:
    def __init__(self, settings: Settings, redis_url: str, tiers: list[str], concurrency: int) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.tiers = tiers
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.loop = asyncio.new_event_loop()
        self._jobs: dict[str, asyncio.Task[JobOutcome | None]] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tiergate-loop", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    # --- called from Celery's pool threads -----------------------------------------------------

    def run_job(self, envelope: dict[str, Any]) -> JobOutcome | None:
        job = JobEnvelope.from_dict(envelope)
        return asyncio.run_coroutine_threadsafe(self._run(job), self.loop).result()

    # --- inside the loop ------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.redis = aioredis.Redis.from_url(self.redis_url, max_connections=64, health_check_interval=30)
        self.http = new_client()
        deployments = self.settings.deployments()
        resilience = Resilience.build(self.redis, deployments, self.settings.router_settings)
        self.runner = JobRunner(deployments, self.http, self.redis.publish, resilience)
        self.loop.create_task(self._listen_cancels())
        self.loop.create_task(self._heartbeat())
        self._ready.set()
        self.loop.run_forever()

    async def _run(self, job: JobEnvelope) -> JobOutcome | None:
        if await self.redis.exists(keys.cancelled_flag(job.id)):
            log.info("job %s dropped: its client went away before it started", job.id)
            return None
        task = asyncio.current_task()
        assert task is not None
        self._jobs[job.id] = task  # type: ignore[assignment]
        try:
            return await self.runner.run(job)
        except asyncio.CancelledError:
            log.info("job %s cancelled: its client went away", job.id)
            return None
        finally:
            self._jobs.pop(job.id, None)

    async def _listen_cancels(self) -> None:
        """Cancel a running job the moment its client disconnects; closing its task closes the provider stream."""
        while True:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(keys.CANCEL_CHANNEL)
                async for message in pubsub.listen():
                    task = self._jobs.get(message["data"].decode())
                    if task is not None:
                        task.cancel()
            except Exception as exc:  # Redis restarts: resubscribe
                log.warning("cancel subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(0.5)

    async def _heartbeat(self) -> None:
        """Tell the API this process consumes its tiers (readiness, 503 on tiers with no worker)."""
        while True:
            try:
                now = time.time()
                async with self.redis.pipeline(transaction=False) as pipe:
                    for tier in self.tiers:
                        pipe.zadd(keys.worker_heartbeat(tier), {self.worker_id: now})
                        pipe.zremrangebyscore(keys.worker_heartbeat(tier), 0, now - HEARTBEAT_TTL)
                    await pipe.execute()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)


_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime(settings: Settings, redis_url: str) -> WorkerRuntime:
    """The process's runtime, started on first use (Celery's thread pool calls this from many threads)."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                tiers = [t for t in os.environ.get("TIERGATE_TIERS", "tier1,tier2,tier3,tier4").split(",") if t]
                concurrency = int(os.environ.get("TIERGATE_CONCURRENCY", "100"))
                _runtime = WorkerRuntime(settings, redis_url, tiers, concurrency)
    return _runtime
