"""The Celery app: one queue per tier, the task name of a completion job, the worker's lifecycle.

Run with `tiergate worker --tiers tier1,tier2 --concurrency 500` or `celery -A workers.celery_app worker -Q tier1
-c 500`: Celery's `-Q` and `-c` are the one source of a worker's tiers and concurrency, `-E` turns on its task
events. The app's pool is the loop pool (workers/pool.py): the worker's asyncio loop takes the jobs, each leased
in the step that takes it (common/lease.py), and runs them. Other pools are refused: Celery's consumer would
take a job off its queue with no lease, acknowledge it on receipt, and lose it with its worker.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP
from celery.concurrency import get_implementation
from celery.signals import worker_init, worker_shutting_down
from kombu import Exchange, Queue
from kombu.transport import redis as kombu_redis

from common import keys
from common.redis_url import broker_url, redis_url
from config import TIER_NAMES, load_settings
from workers.runtime import WorkerRuntime
from workers.task_events import TaskEvents

log = logging.getLogger("tiergate.worker")

settings = load_settings()
REDIS_URL = redis_url()
#: Jobs a worker holds at once unless told `-c`: provider calls last seconds and asyncio holds them cheaply.
DEFAULT_CONCURRENCY = 1000

# kombu puts this worker's unacknowledged messages back on their queues when its channel closes. After a
# network blip that re-runs jobs still running here; after a Redis restart, with the connection gone, it raises
# AttributeError in _connparams and the worker dies ("Unrecoverable error"). A dead worker's jobs are rescued
# by common/inflight.py instead, so the restore is off.
kombu_redis.QoS.restore_at_shutdown = False


class TierQueues(AMQP):
    """Celery's messaging; under the loop pool (workers/pool.py) the worker's loop takes jobs off the tier queues
    itself, so Celery's task consumer is given none of them."""

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
    task_queues=[Queue(tier, Exchange(tier, type="direct"), routing_key=tier) for tier in TIER_NAMES],
    task_default_queue="tier2",
    broker_connection_retry_on_startup=True,
    # Redelivery after a worker dies is the watchdog's job (common/inflight.py), which knows the worker is dead.
    broker_transport_options={"visibility_timeout": 3600},
    broker_connection_max_retries=None,  # a Redis restart must never make the worker give up
    worker_hijack_root_logger=False,
    worker_pool="workers.pool:LoopPool",
    worker_concurrency=DEFAULT_CONCURRENCY,
)

_worker: Any = None  # Celery's WorkController of this process, known from worker_init
_runtime: WorkerRuntime | None = None


@app.task(name=keys.COMPLETE_TASK)
def complete(envelope: dict[str, Any]) -> None:
    """The task every job message names. The loop pool runs jobs itself, so this body never runs (other pools are
    refused at start); `complete.delay()` would queue a job with no deadline or reply channel anyway."""
    raise RuntimeError("tiergate jobs run under the loop pool (workers/pool.py)")


@worker_init.connect
def _require_loop_pool(sender: Any = None, **_: Any) -> None:
    global _worker
    _worker = sender
    from workers.pool import LoopPool

    if get_implementation(sender.pool_cls) is not LoopPool:
        raise SystemExit(f"tiergate: the worker runs under its loop pool only, not {sender.pool_cls!r} (drop -P): "
                         "another pool would take jobs off their queues without a lease and lose them with the worker")


def start_runtime(queues: list[str], concurrency: int) -> WorkerRuntime:
    """This process's runtime, for the queues (`-Q`) and concurrency (`-c`) Celery's pool was given."""
    global _runtime
    hostname = getattr(_worker, "hostname", "") or ""
    _runtime = WorkerRuntime(settings, REDIS_URL, queues, concurrency,
                             TaskEvents(_event_sender(hostname), _events_enabled, hostname))
    log.info("tiergate worker consuming %s with concurrency %d", ",".join(queues), concurrency)
    return _runtime


def _events_enabled() -> bool:
    """-E, or switched on at run time (`celery control enable_events`, as Flower does). The consumer's dispatcher
    is enabled for worker heartbeats anyway; task events are on when its groups include "task" (None: all)."""
    dispatcher = getattr(getattr(_worker, "consumer", None), "event_dispatcher", None)
    if dispatcher is None:
        return bool(getattr(_worker, "task_events", False))
    return bool(dispatcher.enabled) and (not dispatcher.groups or "task" in dispatcher.groups)


def _event_sender(hostname: str) -> Any:
    dispatcher: Any = None

    def send(kind: str, **fields: Any) -> None:
        nonlocal dispatcher
        if dispatcher is None:  # made on the sending thread, which alone uses it
            dispatcher = app.events.Dispatcher(connection=app.connection_for_write(), hostname=hostname,
                                               enabled=True, groups=["task"])
        dispatcher.send(kind, **fields)

    return send


@worker_shutting_down.connect
def _drain(how: str = "", **_: Any) -> None:
    """Warm shutdown (SIGTERM): take no more jobs, let the running ones finish. Past the grace period the process
    exits anyway and the watchdog of another process rescues them."""
    if how != "Warm" or _runtime is None:
        return
    _runtime.begin_drain()
    grace = float(os.environ.get("TIERGATE_SHUTDOWN_GRACE", "60"))
    log.info("warm shutdown: finishing %d job(s) within %.0fs", _runtime.taken_jobs, grace)
    threading.Thread(target=_exit_after, args=(grace, _runtime), name="tiergate-grace", daemon=True).start()


def _exit_after(grace: float, runtime: WorkerRuntime) -> None:
    threading.Event().wait(grace)
    log.warning("grace period over with %d job(s) still running; exiting", runtime.taken_jobs)
    os._exit(1)
