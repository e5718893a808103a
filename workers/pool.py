"""The Celery execution pool of tier workers: jobs are taken and run by the worker's asyncio loop.

Celery's thread pool spent a thread per job only to wait for the loop (workers/runtime.py), which holds every
provider call anyway; and Celery's consumer took the jobs one round trip at a time in its own thread, with no
lease (common/lease.py). Under this pool the loop takes them itself, a burst at a time, as slots free up
(workers/consumer.py). Celery still runs the process: the queues it was given (`-Q`) and its concurrency (`-c`),
its lifecycle and warm shutdown, remote control (`celery inspect ping|active`, `shutdown`) and task events
(workers/task_events.py).

It is the app's `worker_pool` (workers/celery_app.py), the only one it accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery.concurrency.base import BasePool, apply_target

from workers.runtime import WorkerRuntime


class LoopPool(BasePool):
    signal_safe = False
    task_join_will_block = False

    def on_start(self) -> None:
        from workers.celery_app import start_runtime  # the app module imports nothing of the pool

        queues = sorted(self.app.amqp.queues.consume_from)
        self.app.amqp.loop_consumes = True  # before Celery's consumer starts: it must leave these queues to us
        self._runtime: WorkerRuntime = start_runtime(queues, self.limit or 1)

    def on_apply(self, target: Callable[..., Any], args: tuple[Any, ...] | None = None,
                 kwargs: dict[str, Any] | None = None, callback: Callable[..., Any] | None = None,
                 accept_callback: Callable[..., Any] | None = None, **_: Any) -> None:
        """A task reaching Celery's own consumer (none does: it consumes no queue here) runs inline."""
        apply_target(target, args, kwargs, callback, accept_callback)

    def on_stop(self) -> None:
        """Warm shutdown: the runtime stopped taking jobs when it began draining (workers/celery_app.py); the
        ones it took get the grace period to finish."""
        while self._runtime.taken_jobs > 0:
            time.sleep(0.05)

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info.update({"running": self._runtime.active_jobs, "taken": self._runtime.taken_jobs})
        return info

    @property
    def num_processes(self) -> int:
        return self.limit or 1
