"""Celery's view of the tier jobs, which the loop runs outside Celery's task machinery (workers/pool.py).

- `celery inspect active` lists every running job (its id is the request id): each is in Celery's own registry
  of active requests while it runs.
- With task events on (`-E`, `worker_send_task_events`, `tiergate worker --events`, or Flower's
  `enable_events`), each job sends task-received, task-started, then task-succeeded (with its runtime) or
  task-failed, so Flower's Tasks page lists tier jobs. They are sent by a thread of their own on a connection of
  their own: kombu's publishing blocks, and the loop must not.

A job's prompt never leaves in an event or an inspect reply: they carry its id, tier, stream flag and
organization, not its arguments.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from celery.worker import state as worker_state

from common import keys
from common.jobs import JobEnvelope

log = logging.getLogger("tiergate.worker")


class ActiveJob:
    """A running job as `celery inspect active` shows a request (celery.worker.request.Request.info), with the
    attributes Celery's own code reads of its active requests (an acknowledged task without late acks: nothing
    for Celery to cancel or re-deliver; the lease does that)."""

    task = SimpleNamespace(name=keys.COMPLETE_TASK, acks_late=False)
    acknowledged = True
    stamps: dict[str, Any] = {}  # noqa: RUF012 (never written)

    def __init__(self, job: JobEnvelope, hostname: str) -> None:
        self.job = job
        self.id = job.id
        self.hostname = hostname
        self.time_start = time.time()

    def info(self, safe: bool = False) -> dict[str, Any]:
        return {"id": self.job.id, "name": keys.COMPLETE_TASK, "args": [], "kwargs": described(self.job),
                "type": keys.COMPLETE_TASK, "hostname": self.hostname, "time_start": self.time_start,
                "acknowledged": True, "delivery_info": {"routing_key": self.job.tier}, "worker_pid": os.getpid()}


def described(job: JobEnvelope) -> dict[str, Any]:
    return {"request_id": job.id, "tier": job.tier, "stream": job.stream, "organization_id": job.organization_id}


class TaskEvents:
    """`enabled` says, at each job, whether Celery's task events are on (they can be switched at run time);
    `send` makes and sends one event (Celery's EventDispatcher.send), called on the sending thread only."""

    def __init__(self, send: Callable[..., None] | None, enabled: Callable[[], bool] = lambda: False,
                 hostname: str = "") -> None:
        self._send = send
        self._enabled = enabled
        self._hostname = hostname
        self._active: dict[str, ActiveJob] = {}
        self._outbox: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        if send is not None:
            threading.Thread(target=self._deliver, name="tiergate-task-events", daemon=True).start()

    def started(self, job: JobEnvelope) -> None:
        active = ActiveJob(job, self._hostname)
        self._active[job.id] = active
        worker_state.active_requests.add(active)
        if self._send is not None and self._enabled():
            self._outbox.put(("task-received", {"uuid": job.id, "name": keys.COMPLETE_TASK, "args": "()",
                                                "kwargs": repr(described(job)), "retries": 0, "eta": None,
                                                "expires": None, "root_id": job.id, "parent_id": None}))
            self._outbox.put(("task-started", {"uuid": job.id}))

    def ended(self, job: JobEnvelope, status: int, error: str | None) -> None:
        active = self._active.pop(job.id, None)
        if active is None:
            return
        worker_state.active_requests.discard(active)
        if self._send is None or not self._enabled():
            return
        runtime = time.time() - active.time_start
        if error is None:
            self._outbox.put(("task-succeeded", {"uuid": job.id, "result": repr({"status": status}),
                                                 "runtime": runtime}))
        else:
            self._outbox.put(("task-failed", {"uuid": job.id, "exception": error, "traceback": "",
                                              "runtime": runtime}))

    def _deliver(self) -> None:
        assert self._send is not None
        while True:
            kind, fields = self._outbox.get()
            try:
                self._send(kind, **fields)
            except Exception as exc:  # events are for watching: losing one must not stop the next
                log.warning("could not send Celery event %s: %s", kind, exc)
