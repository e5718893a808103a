"""The Celery app: one queue per tier, one task that runs a completion job.

Run with `tiergate worker --tiers tier1,tier2` (or `celery -A workers.celery_app worker -Q tier1`). The app's
pool is the loop pool (workers/pool.py), under which the worker's asyncio loop takes and runs the jobs itself;
under another pool (`-P threads`), Celery consumes and the task below hands each job to the loop.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import worker_ready, worker_shutting_down
from kombu import Exchange, Queue
from kombu.transport import redis as kombu_redis

from common import keys
from common.redis_url import broker_url, redis_url
from config import TIER_NAMES, load_settings
from workers.runtime import WorkerRuntime, get_runtime

log = logging.getLogger("tiergate.worker")

settings = load_settings()
REDIS_URL = redis_url()

# kombu puts this worker's unacknowledged messages back on their queues when its channel closes. After a
# network blip that re-runs jobs still running here; after a Redis restart, with the connection gone, it raises
# AttributeError in _connparams and the worker dies ("Unrecoverable error"). A dead worker's jobs are rescued
# by common/inflight.py instead, so the restore is off.
kombu_redis.QoS.restore_at_shutdown = False

class TierQueues(AMQP):
    """Celery's messaging; under the loop pool (workers/pool.py) the worker's loop pops the tier queues itself,
    so Celery's task consumer is given none of them."""

    loop_consumes = False  # set by the loop pool as it starts, before Celery's consumer does

    def TaskConsumer(self, channel: Any, queues: Any = None, accept: Any = None, **kw: Any) -> Any:
        if self.loop_consumes:
            return self.Consumer(channel, accept=accept or self.app.conf.accept_content, queues=[], **kw)
        return super().TaskConsumer(channel, queues, accept, **kw)


app = Celery("tiergate", broker=broker_url(REDIS_URL), amqp=TierQueues)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # Under a stock pool (-P threads) a job is acknowledged as it starts. Either way a worker killed mid-job
    # does not lose it: it is registered in flight (common/inflight.py) and rescued by the watchdog, which
    # knows the worker is dead, rather than by kombu's unacked-message restore, which only knows a message is
    # old. Late acks also crash the consumer when a job that outlived a Redis restart is acknowledged on the
    # dead channel (AttributeError in kombu's _connparams), leaving a worker that heartbeats but never
    # consumes again.
    task_acks_late=False,
    worker_prefetch_multiplier=1,
    task_queues=[Queue(tier, Exchange(tier, type="direct"), routing_key=tier) for tier in TIER_NAMES],
    task_default_queue="tier2",
    broker_connection_retry_on_startup=True,
    # Redelivery after a worker dies is the watchdog's job (common/inflight.py), which knows the worker is dead;
    # kombu's visibility timeout only knows a message is old, so it stays long: the copy it restores after an
    # hour is past its deadline and dropped unrun.
    broker_transport_options={"visibility_timeout": 3600},
    broker_connection_max_retries=None,  # a Redis restart must never make the worker give up
    worker_hijack_root_logger=False,
    worker_pool="workers.pool:LoopPool",
)


def worker_runtime() -> WorkerRuntime:
    """This process's runtime (one asyncio loop for every job), started on first use."""
    return get_runtime(settings, REDIS_URL)


@app.task(name=keys.COMPLETE_TASK)
def complete(envelope: dict[str, Any]) -> None:
    """Run one completion job; the answer goes back on the job's reply channel, not as a Celery result."""
    worker_runtime().run_job(envelope)


@worker_ready.connect
def _start_runtime(**_: Any) -> None:
    """Start the loop and heartbeat at boot, so readiness sees the worker before its first job."""
    worker_runtime()
    log.info("tiergate worker ready for %s", os.environ.get("TIERGATE_TIERS", "all tiers"))


@worker_shutting_down.connect
def _drain(how: str = "", **_: Any) -> None:
    """Warm shutdown (SIGTERM): Celery stops consuming and waits for the pool; our loop keeps serving the running
    jobs. Past the grace period the process exits anyway and the watchdog of another process rescues them."""
    if how != "Warm":
        return
    runtime = worker_runtime()
    runtime.begin_drain()
    grace = float(os.environ.get("TIERGATE_SHUTDOWN_GRACE", "60"))
    log.info("warm shutdown: finishing %d job(s) within %.0fs", runtime.active_jobs, grace)
    threading.Thread(target=_exit_after, args=(grace, runtime), name="tiergate-grace", daemon=True).start()


def _exit_after(grace: float, runtime: WorkerRuntime) -> None:
    threading.Event().wait(grace)
    log.warning("grace period over with %d job(s) still running; exiting", runtime.active_jobs)
    os._exit(1)
