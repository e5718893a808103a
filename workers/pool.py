"""A Celery execution pool that runs each completion job as a task on the worker's asyncio loop.

Celery's thread pool spent a thread per job only to wait for the loop (workers/runtime.py), which holds every
provider call anyway: two thread hops per job, a hundred idle threads contending for the GIL, and Celery's
task tracer around a function that only handed the job over. This pool decodes the job from the task message
in the consumer's thread and starts it on the loop directly. Celery still does everything around it: the
queues, the consumer, the worker's lifecycle, remote control and events.

It is the app's `worker_pool` (workers/celery_app.py): `tiergate worker` and `celery -A workers.celery_app worker`
use it unless told `-P threads`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from celery.concurrency.base import BasePool, apply_target
from celery.worker import state as worker_state
from kombu.serialization import loads

from common import keys
from workers.runtime import WorkerRuntime

log = logging.getLogger("tiergate.worker")

class LoopPool(BasePool):
    """At most `limit` jobs run at once. The tier queues are consumed without acknowledgements (a job started
    here is registered in flight and rescued by the watchdog if this process dies, common/inflight.py), so
    Celery's prefetch limit does not hold the consumer back: when every slot is busy, the consumer's thread
    waits here for one, as under the solo pool, and the queue's next job goes to a worker with room."""

    signal_safe = False
    body_can_be_buffer = True
    task_join_will_block = False

    def on_start(self) -> None:
        from workers.celery_app import worker_runtime  # the app module imports nothing of the pool

        self._runtime: WorkerRuntime = worker_runtime()
        self.app.amqp.no_ack = True  # before the consumer starts: this pool bounds what it takes itself
        self._slots = threading.Semaphore(self.limit or 1)
        self._running = 0
        self._lock = threading.Lock()
        # Celery's callbacks when they may do I/O (task events) run here: never on the loop, where a blocking
        # kombu call would stall every job.
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiergate-pool")
        self._callbacks_block = bool(self.app and self.app.conf.worker_send_task_events)

    def on_apply(self, target: Callable[..., Any], args: tuple[Any, ...] | None = None,
                 kwargs: dict[str, Any] | None = None, callback: Callable[..., Any] | None = None,
                 accept_callback: Callable[..., Any] | None = None, **_: Any) -> None:
        task_name, _task_id, _request, body, content_type, content_encoding = args or (None,) * 6
        if task_name != keys.COMPLETE_TASK:  # nothing else is registered; run it here, as the solo pool would
            apply_target(target, args, kwargs, callback, accept_callback)
            return
        self._take_slot()
        started = time.monotonic()
        try:
            envelope = _envelope(body, content_type, content_encoding)
        except Exception:  # a message the API did not write: drop it, keep the slot count right
            log.exception("undecodable job message dropped")
            self._ended(callback, started)
            return
        self._runtime.submit(envelope, lambda: self._ended(callback, started))
        if accept_callback:  # Celery's bookkeeping (active requests, task-started); no ack to send
            accept_callback(os.getpid(), started)

    def _take_slot(self) -> None:
        """Wait for a free slot; a shutdown that begins meanwhile lets the job through (the draining runtime
        puts it back on its queue)."""
        while not self._slots.acquire(timeout=0.25):
            if worker_state.should_stop or worker_state.should_terminate:
                break
        with self._lock:
            self._running += 1

    def _ended(self, callback: Callable[..., Any] | None, started: float) -> None:
        """A job ended (in the loop's thread): tell Celery, free its slot."""
        with self._lock:
            self._running -= 1
        self._slots.release()
        if callback:
            result = (False, None, time.monotonic() - started)
            if self._callbacks_block:
                self._helper.submit(callback, result)
            else:
                callback(result)

    def on_stop(self) -> None:
        """Warm shutdown: the running jobs get the grace period (workers/celery_app.py) to finish."""
        while self._running > 0:
            time.sleep(0.05)
        self._helper.shutdown(wait=True)

    def on_terminate(self) -> None:
        self._helper.shutdown(wait=False, cancel_futures=True)

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info.update({"running": self._running})
        return info

    @property
    def num_processes(self) -> int:
        return self.limit or 1


def _envelope(body: Any, content_type: str, content_encoding: str) -> dict[str, Any]:
    """The job envelope: the first positional argument of the task (protocol 2 body: [args, kwargs, embed])."""
    if content_type == "application/json":
        args = orjson.loads(bytes(body) if isinstance(body, memoryview) else body)[0]
    else:
        args = loads(body, content_type, content_encoding, accept={content_type})[0]
    return dict(args[0])
