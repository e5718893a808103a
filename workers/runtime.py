"""Per worker process: one asyncio loop in a background thread that takes, runs and settles every job.

The loop multiplexes hundreds of provider calls over one pooled HTTP client (workers/http.py) and one Redis
connection pool. Around the jobs: the consumer takes them (workers/consumer.py) within the worker's slots
(workers/slots.py), the cancel listener stops those whose client left (workers/cancels.py), the heartbeat says
the worker is alive (workers/heartbeat.py), the watchdog rescues dead workers' jobs (common/inflight.py), and
Celery's task events and `inspect active` see each job (workers/task_events.py).

Every job ends once: it answers, or publishes an error event whatever went wrong (any exception: 500, Redis:
503), then settles its usage, all fenced by its lease (common/lease.py).
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

from common import inflight, keys, lease
from common.celery_message import UnreadableJob, read_job
from common.errors import GatewayError, internal_failure, queue_unavailable
from common.jobs import JobEnvelope, encode_event
from common.lease import Lease, LeaseLost, Leases, Taken
from common.lost_streams import LostStreams
from common.metrics import QUEUE_WAIT
from common.recent import RECENT
from config import TIER_NAMES, Settings
from workers.accounting import Accountant
from workers.cache_fill import fill_cache
from workers.cancels import listen_cancels
from workers.consumer import Consumer
from workers.execute import JobOutcome, JobRunner
from workers.heartbeat import Heartbeat
from workers.http import new_client
from workers.ledger import start_ledger_writer
from workers.resilience import Cooldowns, Resilience
from workers.slots import Slots
from workers.task_events import TaskEvents

log = logging.getLogger("tiergate.worker")

CLIENT_GONE = 499  # nginx's status for a request whose client closed the connection
WATCHDOG_SECONDS = 2.0
#: Pauses between tries to record a job's end while Redis is away (a restart takes seconds).
SETTLE_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0)


def failure(job: JobEnvelope, exc: BaseException) -> GatewayError:
    """A job that failed through no fault of its request or its provider: Redis away, or our bug."""
    return queue_unavailable() if isinstance(exc, RedisError | OSError) else internal_failure(job.id)


class WorkerRuntime:
    def __init__(self, settings: Settings, redis_url: str, tiers: list[str], concurrency: int,
                 events: TaskEvents | None = None) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.tiers = tiers
        self.concurrency = concurrency
        self.events = events or TaskEvents(None)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = time.time()
        self.draining = False
        self.loop = uvloop.new_event_loop()  # the C loop: less CPU per socket event than asyncio's
        self._jobs: dict[str, asyncio.Task[Any]] = {}
        self._leases: dict[str, Lease] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # the loop holds tasks weakly
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tiergate-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the worker's loop did not start within 30 s")

    # --- called from Celery's threads -----------------------------------------------------------

    def begin_drain(self) -> None:
        """Warm shutdown began: take no more jobs, stop advertising this worker's tiers (the API answers 503 at
        once if it was the last), keep the loop and worker_info alive until the jobs taken have ended."""
        self.draining = True

        def drain() -> None:
            self.consumer.stop()
            self._keep(self.heartbeat.withdraw())

        self.loop.call_soon_threadsafe(drain)

    @property
    def active_jobs(self) -> int:
        return len(self._jobs)

    @property
    def taken_jobs(self) -> int:
        """Jobs this process took off its queues that have not ended yet (running or about to)."""
        return self.slots.held

    # --- inside the loop ------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        # Blocking pool: at a busy moment a job waits for a connection instead of failing with MaxConnectionsError.
        pool = aioredis.BlockingConnectionPool.from_url(self.redis_url, max_connections=128, timeout=10,
                                                       health_check_interval=30)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.leases = Leases(self.redis)
        self.http = await new_client()
        deployments = self.settings.deployments()
        resilience = Resilience.build(self.redis, deployments, self.settings.router_settings)
        self.runner = JobRunner(deployments, self.http, self._publish, resilience)
        self.accountant = Accountant(self.redis, self.settings, deployments)
        self.slots = Slots(self.concurrency)
        state_keys = dict(zip(deployments, Cooldowns.state_keys(list(deployments)), strict=True))
        self.heartbeat = Heartbeat(self.redis_url, self.worker_id, self.tiers, self._info, lambda: self.draining)
        self.consumer = Consumer(self.redis_url, self.worker_id, self.tiers, self.slots, self._start_jobs, state_keys,
                                 self.heartbeat.beat)
        try:
            await self.heartbeat.beat()  # readiness sees the worker before its first job
        except Exception as exc:  # Redis not up yet: the heartbeat's loop keeps trying
            log.warning("first heartbeat failed: %s", exc)
        self._keep(self.consumer.run())
        self._keep(listen_cancels(self.redis, self._jobs))
        self._keep(self.heartbeat.run())
        # Every tier, not only this worker's: the rescue need not wait for a worker of the dead one's tiers.
        lost_streams = LostStreams(self.redis, deployments, self.settings.audit.content)
        self._keep(inflight.watch(self.redis, list(TIER_NAMES), lost_streams, WATCHDOG_SECONDS))
        start_ledger_writer(self.redis_url, self.worker_id, self.settings)

    def _keep(self, work: Any) -> None:
        task = self.loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_jobs(self, taken: list[Taken], cooling: dict[str, bytes | None]) -> None:
        for item in taken:
            if not item.token:
                log.error("dropped an unreadable message from %s: no job id", item.tier)
                continue
            self.slots.take()
            task = self.loop.create_task(self._run(item, cooling))
            task.add_done_callback(self._given_back)

    def _given_back(self, _: asyncio.Task[Any]) -> None:
        self.slots.give_back()

    async def _run(self, taken: Taken, cooling: dict[str, bytes | None]) -> None:
        try:
            job = read_job(taken.message)
        except UnreadableJob as exc:
            log.error("dropped an unreadable job from %s: %s", taken.tier, exc)
            await self._end_unreadable(taken)
            return
        held = Lease(taken.task_id, taken.tier, taken.token)
        if taken.cancelled:
            log.info("job %s dropped: its client went away before it started", job.id)
            await self._settle(job, held, None, CLIENT_GONE, "dropped")
            return
        QUEUE_WAIT.labels(job.tier).observe(waited := max(0.0, time.time() - job.enqueued_at))
        RECENT.observe(job.tier, "wait", waited)
        task = asyncio.current_task()
        assert task is not None
        self._jobs[job.id] = task
        self._leases[job.id] = held
        self.events.started(job)
        outcome: JobOutcome | None = JobOutcome()  # kept if cancelled: a cut stream is billed for what it sent
        status, ended = CLIENT_GONE, "dropped"  # unless it runs to an end: cancelled (its client went away)
        try:
            outcome = await self.runner.run(job, outcome, cooling)
            status = outcome.status if outcome else 504  # None: expired before it started
            ended = "ok" if status == 200 else "failed" if outcome else "dropped"
        except asyncio.CancelledError:
            log.info("job %s cancelled: its client went away", job.id)
        except LeaseLost:
            log.warning("job %s: this worker's lease was taken over (it was thought dead); it stops here", job.id)
            self.events.ended(job, 409, "lease lost")
            return
        except Exception as exc:
            log.exception("job %s failed", job.id)
            error = failure(job, exc)
            status, ended = error.status, "failed"
            await self._fail(job, error)
        finally:
            self._jobs.pop(job.id, None)
            self._leases.pop(job.id, None)
        self.events.ended(job, status, None if status < 400 else f"status {status}")
        await self._settle(job, held, outcome, status, ended)

    async def _fail(self, job: JobEnvelope, error: GatewayError) -> None:
        """The error event of a job that raised, so its client learns now, not at its deadline."""
        try:
            await self._publish(job, encode_event(job.id, "error", **error.to_event()))
        except Exception as exc:  # Redis gone: the API fails its waiting requests when its subscription drops
            log.warning("job %s: could not publish its error event: %s", job.id, exc)

    async def _settle(self, job: JobEnvelope, held: Lease, outcome: JobOutcome | None, status: int,
                      ended: inflight.Outcome) -> None:
        """Publish a job's last event (its answer, its stream's end), end the lease, count how the job ended,
        record its usage: one round trip (after the cache fill), the usage script in it counting only with the
        permit the lease's end granted. A Redis failure is tried again (both steps are idempotent: the permit
        outlives a lost reply, usage counts once; the fenced publish does not repeat once the lease has ended);
        it must not lose the worker."""
        answer = outcome.last_event if outcome is not None else None
        if outcome is not None and answer is not None and status != 200:  # cancelled once made: not delivered
            outcome.forget_answer()
            answer = None

        def end(pipe: Any) -> None:
            if answer is not None:
                lease.answer_in(pipe, held, job.reply_to, answer, keep=not job.stream)
            lease.end_in(pipe, held)
            inflight.finish_in(pipe, job.tier, ended, job.organization_id)

        try:  # a cache not filled only costs the next identical request a provider call
            await fill_cache(self.redis, job, outcome, status, self.settings.litellm_settings.max_entry_bytes)
        except Exception as exc:
            log.warning("job %s: could not fill the response cache: %s", job.id, exc)
        for pause in SETTLE_RETRIES:
            try:
                counted = await self.accountant.settle(job, outcome, status, also=end,
                                                       permit=keys.settle_permit(held.job_id))
                if answer is not None and not counted:  # the lease fenced the answer out with the usage
                    log.warning("job %s: this worker's lease was taken over (it was thought dead); its answer was "
                                "not sent", job.id)
                return
            except RedisError as exc:
                log.warning("job %s: could not record its end (%s); again in %.1fs", job.id, exc, pause)
                await asyncio.sleep(pause)
            except Exception:  # our bug: the log says which request
                log.exception("could not record usage of %s", job.id)
                return
        log.error("job %s: its end was not recorded; it stays in flight until this worker stops", job.id)

    async def _end_unreadable(self, taken: Taken) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                lease.end_in(pipe, Lease(taken.task_id, taken.tier, taken.token))
                await pipe.execute()
        except Exception as exc:
            log.warning("could not forget an unreadable job: %s", exc)

    async def _publish(self, job: JobEnvelope, *events: bytes) -> None:
        """Publish a job's events if this worker still holds its lease (LeaseLost otherwise). The job is passed
        in, not read back from each event: decoding every chunk event only to find its id cost a JSON parse."""
        await self.leases.publish(self._leases[job.id], job.reply_to, events)

    def _info(self, now: float) -> bytes:
        host, _, pid = self.worker_id.rpartition(":")
        return orjson.dumps({"id": self.worker_id, "host": host, "pid": int(pid), "tiers": self.tiers,
                             "concurrency": self.concurrency, "active": self.active_jobs,
                             "draining": self.draining, "started_at": self.started_at, "heartbeat_at": now})

