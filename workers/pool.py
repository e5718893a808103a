"""A Celery execution pool that runs each completion job as a task on the worker's asyncio loop.

Celery's thread pool spent a thread per job only to wait for the loop (workers/runtime.py), which holds every
provider call anyway: two thread hops per job, a hundred idle threads contending for the GIL, and Celery's
task tracer around a function that only handed the job over. This pool decodes the job from the task message
in the consumer's thread and starts it on the loop directly. Celery still does everything around it: the
queues, the consumer, acknowledgement (when the job starts), prefetch limits, remote control and events.

It is the app's `worker_pool` (workers/celery_app.py): `tiergate worker` and `celery -A workers.celery_app worker`
use it unless told `-P threads`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from celery.concurrency.base import BasePool, apply_target
from kombu.serialization import loads

from common import keys
from workers.runtime import WorkerRuntime

log = logging.getLogger("tiergate.worker")

Start = Callable[[], None]


class LoopPool(BasePool):
    """At most `limit` jobs run at once; more wait here unacknowledged, so Celery's prefetch limit stops the
    consumer (as the thread pool's queue did) instead of this process hoarding jobs it cannot start."""

    signal_safe = False
    body_can_be_buffer = True
    task_join_will_block = False

    def on_start(self) -> None:
        from workers.celery_app import worker_runtime  # the app module imports nothing of the pool

        self._runtime: WorkerRuntime = worker_runtime()
        self._running = 0
        self._waiting: deque[Start] = deque()
        self._lock = threading.Lock()
        # Starts deferred until a slot frees, and Celery's callbacks when they may do I/O (task events), run
        # here: never on the loop, where a blocking kombu call would stall every job.
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiergate-pool")
        self._callbacks_block = bool(self.app and self.app.conf.worker_send_task_events)

    def on_apply(self, target: Callable[..., Any], args: tuple[Any, ...] | None = None,
                 kwargs: dict[str, Any] | None = None, callback: Callable[..., Any] | None = None,
                 accept_callback: Callable[..., Any] | None = None, **_: Any) -> None:
        task_name, _task_id, _request, body, content_type, content_encoding = args or (None,) * 6
        if task_name != keys.COMPLETE_TASK:  # nothing else is registered; run it here, as the solo pool would
            apply_target(target, args, kwargs, callback, accept_callback)
            return
        start = lambda: self._start(body, content_type, content_encoding, callback, accept_callback)  # noqa: E731
        with self._lock:
            if self._running >= (self.limit or 1):
                self._waiting.append(start)
                return
            self._running += 1
        start()

    def _start(self, body: Any, content_type: str, content_encoding: str, callback: Callable[..., Any] | None,
               accept_callback: Callable[..., Any] | None) -> None:
        started = time.monotonic()
        if accept_callback:
            accept_callback(os.getpid(), started)  # acknowledges the message: the job is ours now
        try:
            envelope = _envelope(body, content_type, content_encoding)
        except Exception:  # a message the API did not write: drop it, keep the slot count right
            log.exception("undecodable job message dropped")
            self._ended(callback, started)
            return
        self._runtime.submit(envelope, lambda: self._ended(callback, started))

    def _ended(self, callback: Callable[..., Any] | None, started: float) -> None:
        """A job ended (in the loop's thread): tell Celery, start a waiting job or free the slot."""
        if callback:
            result = (False, None, time.monotonic() - started)
            if self._callbacks_block:
                self._helper.submit(callback, result)
            else:
                callback(result)
        with self._lock:
            following = self._waiting.popleft() if self._waiting else None
            if following is None:
                self._running -= 1
        if following is not None:
            self._helper.submit(following)

    def on_stop(self) -> None:
        """Warm shutdown: jobs still waiting start now and, the runtime draining, go back to their queues; the
        running ones get the grace period (workers/celery_app.py) to finish."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
            self._running += len(waiting)
        for start in waiting:
            start()
        while self._running > 0:
            time.sleep(0.05)
        self._helper.shutdown(wait=True)

    def on_terminate(self) -> None:
        self._helper.shutdown(wait=False, cancel_futures=True)

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info.update({"running": self._running, "waiting": len(self._waiting)})
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
