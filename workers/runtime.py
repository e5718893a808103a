"""Per worker process: one asyncio loop in a background thread holding every provider call.

Under the loop pool (workers/pool.py) this loop also takes the jobs off the tier queues (under another Celery
pool, a pool thread hands each job over and waits). The loop multiplexes hundreds of provider calls over one
pooled HTTP client (workers/http.py), one Redis connection pool, and one cancel subscription.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
import uvloop
from redis.exceptions import RedisError

from common import inflight, keys
from common.celery_message import task_call
from common.jobs import JobEnvelope
from common.metrics import QUEUE_WAIT
from config import Settings
from workers.accounting import Accountant
from workers.cache_fill import fill_cache
from workers.execute import JobOutcome, JobRunner
from workers.http import new_client
from workers.ledger import drain_ledger
from workers.resilience import Cooldowns, Resilience

log = logging.getLogger("tiergate.worker")

CLIENT_GONE = 499  # nginx's status for a request whose client closed the connection
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TTL = 10
#: A worker silent this long is dead and its jobs in flight are rescued: three missed heartbeats.
WORKER_INFO_TTL = 6
WATCHDOG_SECONDS = 2.0
#: Most jobs taken in one pop: a burst is shared among the workers of a tier, not swallowed by the first.
TAKE_AT_MOST = 32


class WorkerRuntime:
    def __init__(self, settings: Settings, redis_url: str, tiers: list[str], concurrency: int) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.tiers = tiers
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = time.time()
        self.draining = False
        self.loop = uvloop.new_event_loop()  # the C loop: less CPU per socket event than asyncio's
        self._jobs: dict[str, asyncio.Task[JobOutcome | None]] = {}
        self._running: dict[str, JobEnvelope] = {}
        self._produced: set[str] = set()
        self._taken = 0
        self._consumer: asyncio.Task[None] | None = None  # the loop pool's: takes jobs off the queues
        self._room = asyncio.Event()  # set while fewer than `concurrency` jobs are taken
        self._room.set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tiergate-loop", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    # --- called from Celery's threads -----------------------------------------------------------

    def consume(self, queues: list[str]) -> None:
        """Take jobs from these tier queues on the loop itself (the loop pool, workers/pool.py)."""
        def start() -> None:
            self._consumer = self.loop.create_task(self._consume(queues))  # kept: the loop holds tasks weakly

        self.loop.call_soon_threadsafe(start)

    def run_job(self, envelope: dict[str, Any]) -> JobOutcome | None:
        """Run a job on the loop and wait for it (for pools that give each job a thread)."""
        job = JobEnvelope.from_dict(envelope)
        return asyncio.run_coroutine_threadsafe(self._run(job), self.loop).result()

    def begin_drain(self) -> None:
        """Warm shutdown began: stop advertising this worker's tiers (the API answers 503 at once if it was
        the last), keep the loop and worker_info alive until the running jobs have ended."""
        self.draining = True
        asyncio.run_coroutine_threadsafe(self._withdraw(), self.loop)

    @property
    def active_jobs(self) -> int:
        return len(self._running)

    @property
    def taken_jobs(self) -> int:
        """Jobs this process took off its queues that have not ended yet (running or about to)."""
        return self._taken

    # --- inside the loop ------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        # Blocking pool: at a busy moment a job waits for a connection instead of failing with MaxConnectionsError.
        pool = aioredis.BlockingConnectionPool.from_url(self.redis_url, max_connections=128, timeout=10,
                                                       health_check_interval=30)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.http = self.loop.run_until_complete(new_client())
        deployments = self.settings.deployments()
        resilience = Resilience.build(self.redis, deployments, self.settings.router_settings)
        self.runner = JobRunner(deployments, self.http, self._publish, resilience)
        self.accountant = Accountant(self.redis, self.settings, self.http, deployments)
        self.loop.create_task(self._listen_cancels())
        self.loop.create_task(self._heartbeat())
        self.loop.create_task(inflight.watch(self.redis, self.tiers, WATCHDOG_SECONDS))
        self._ledger = self.loop.create_task(drain_ledger(self.redis_url, self.worker_id, self.settings))
        self._ready.set()
        self.loop.run_forever()

    async def _consume(self, queues: list[str]) -> None:
        """Pop jobs as slots free up, a burst at a time: one blocking pop, then as many more of that queue as
        there is room for. Celery's consumer took one message per round trip through its own thread, and
        under a burst its thread waited for the GIL behind this loop; jobs queued for hundreds of ms.

        A job is off its queue from the pop until `_run` registers it in flight, a few ms on this loop; a
        process killed in between loses it (the API answers 504 at its deadline)."""
        redis = aioredis.Redis.from_url(self.redis_url)  # its own connection: a blocking pop holds it
        order = list(queues)
        while not self.draining:
            await self._room.wait()
            try:
                popped = await redis.brpop(order, timeout=1)
                if popped is None:
                    continue
                queue, message = popped
                self._take(message)  # first, so that a lone job does not wait for the round trip below
                room = min(self.concurrency - self._taken, TAKE_AT_MOST - 1)
                if room > 0:
                    for more in await redis.rpop(queue, room) or []:
                        self._take(more)
            except (RedisError, OSError) as exc:  # Redis restarts: keep trying
                log.warning("cannot take jobs from %s (%s); retrying", ",".join(queues), exc)
                await asyncio.sleep(0.5)
                continue
            order = order[1:] + order[:1]  # the next pop starts at another tier, as kombu's did
        await redis.aclose()

    def _take(self, message: bytes) -> None:
        try:
            task, args = task_call(message)
            if task != keys.COMPLETE_TASK:
                raise ValueError(f"task {task!r} is not ours")
            job = JobEnvelope.from_dict(args[0])
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # not a message the API wrote: drop it
            log.error("dropped an unreadable job message: %s", exc)
            return
        self._taken += 1
        if self._taken >= self.concurrency:
            self._room.clear()
        self.loop.create_task(self._run(job)).add_done_callback(self._given_back)

    def _given_back(self, _: asyncio.Task[Any]) -> None:
        self._taken -= 1
        self._room.set()

    async def _run(self, job: JobEnvelope) -> JobOutcome | None:
        if self.draining:
            # A pop in flight when SIGTERM came (up to its 1 s timeout), or Celery's consumer under another
            # pool: hand such a job to another worker.
            log.info("job %s handed back to its queue: this worker is shutting down", job.id)
            await inflight.requeue(self.redis, job)
            return None
        # One round trip: is it cancelled, (harmlessly if so) note it as in flight here, and which of its models
        # are cooling down.
        state_keys = Cooldowns.state_keys(job.models)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.cancelled_flag(job.id))
            inflight.register_in(pipe, self.worker_id, job)
            if state_keys:
                pipe.mget(state_keys)
            cancelled, _, *cooling = await pipe.execute()
        if cancelled:
            log.info("job %s dropped: its client went away before it started", job.id)
            await self._settle(job, None, CLIENT_GONE, "dropped")
            return None
        QUEUE_WAIT.labels(job.tier).observe(max(0.0, time.time() - job.enqueued_at))
        task = asyncio.current_task()
        assert task is not None
        self._jobs[job.id] = task  # type: ignore[assignment]
        self._running[job.id] = job
        outcome: JobOutcome | None = JobOutcome()  # kept if cancelled: a cut stream is billed for what it sent
        status = CLIENT_GONE
        ended: inflight.Outcome = "dropped"  # expired before it started, or cancelled
        try:
            known = dict(zip(job.models, cooling[0], strict=True)) if cooling else {}
            outcome = await self.runner.run(job, outcome, known)
            status = outcome.status if outcome else 504
            if outcome is not None:
                ended = "ok" if outcome.status == 200 else "failed"
            return outcome
        except asyncio.CancelledError:
            log.info("job %s cancelled: its client went away", job.id)
            return None
        finally:
            self._jobs.pop(job.id, None)
            self._running.pop(job.id, None)
            self._produced.discard(job.id)
            await self._settle(job, outcome, status, ended)

    async def _settle(self, job: JobEnvelope, outcome: JobOutcome | None, status: int,
                      ended: inflight.Outcome) -> None:
        """Forget the job in flight, count how it ended, fill the cache, record its usage. The in-flight end
        rides in the usage script's round trip; a Redis failure must not fail the job or lose the worker."""
        queued = False

        def end_inflight(pipe: Any) -> None:
            nonlocal queued
            inflight.finish_in(pipe, job.tier, job.id, ended, job.organization_id)
            queued = True

        try:
            await fill_cache(self.redis, job, outcome, status, self.settings.litellm_settings.max_entry_bytes)
            await self.accountant.settle(job, outcome, status, also=end_inflight)
        except Exception:  # the log says which request
            log.exception("could not record usage of %s", job.id)
        if not queued:  # the usage record failed before its round trip: end the job in flight on its own
            try:
                await inflight.finish(self.redis, job.tier, job.id, ended, job.organization_id)
            except Exception as exc:
                log.warning("job %s: could not record its end: %s", job.id, exc)

    async def _publish(self, job: JobEnvelope, *events: bytes) -> None:
        """Publish a job's events; with its first, mark it as having produced output, because from then on a
        rescue must fail it rather than run it again. The job is passed in, not read back from each event:
        decoding every chunk event only to find its id cost a JSON parse per published message."""
        if len(events) == 1 and job.id in self._produced:
            await self.redis.publish(job.reply_to, events[0])
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            if job.id in self._running and job.id not in self._produced:
                self._produced.add(job.id)
                inflight.register_in(pipe, self.worker_id, job, produced=True)
            for event in events:
                pipe.publish(job.reply_to, event)
            await pipe.execute()

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
        """Tell the API this process consumes its tiers (readiness, 503 on tiers with no worker) and what it
        is doing (GET /ai/queues); a draining worker keeps its details but no longer advertises its tiers."""
        while True:
            try:
                now = time.time()
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.set(keys.worker_info(self.worker_id), self._info(now), ex=WORKER_INFO_TTL)
                    for tier in self.tiers:
                        if not self.draining:
                            pipe.zadd(keys.worker_heartbeat(tier), {self.worker_id: now})
                        pipe.zremrangebyscore(keys.worker_heartbeat(tier), 0, now - HEARTBEAT_TTL)
                    await pipe.execute()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def _info(self, now: float) -> bytes:
        host, _, pid = self.worker_id.rpartition(":")
        return orjson.dumps({"id": self.worker_id, "host": host, "pid": int(pid), "tiers": self.tiers,
                             "concurrency": self.concurrency, "active": self.active_jobs,
                             "draining": self.draining, "started_at": self.started_at, "heartbeat_at": now})

    async def _withdraw(self) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for tier in self.tiers:
                    pipe.zrem(keys.worker_heartbeat(tier), self.worker_id)
                pipe.set(keys.worker_info(self.worker_id), self._info(time.time()), ex=WORKER_INFO_TTL)
                await pipe.execute()
        except Exception as exc:
            log.warning("could not withdraw from the tier heartbeats: %s", exc)



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
