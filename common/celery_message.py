"""A Celery task message (protocol 2) as kombu's Redis transport stores it in a queue list, and the job in it.

The API pushes jobs with one LPUSH on its asyncio Redis client instead of going through Celery's blocking
producer, and the worker's loop takes them itself (workers/consumer.py); Flower and `celery` read the same
messages. `job_message` and `read_job` are the one encoder and the one decoder of a queued job.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from typing import Any

import orjson

from common import keys
from common.jobs import JobEnvelope

_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"


class UnreadableJob(ValueError):
    """A queued message that is not a job the API wrote."""


def job_message(job: JobEnvelope) -> bytes:
    """The message that queues `job` on its tier (the same id and reply channel when it is queued again)."""
    return task_message(keys.COMPLETE_TASK, job.id, job.tier, [job.to_dict()])


def read_job(message: bytes | str) -> JobEnvelope:
    """The job in a queued message; UnreadableJob when it holds none."""
    try:
        task, args = task_call(message)
        if task != keys.COMPLETE_TASK:
            raise UnreadableJob(f"task {task!r} is not ours")
        return JobEnvelope.from_dict(args[0])
    except UnreadableJob:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise UnreadableJob(f"{type(exc).__name__}: {exc}") from None


def task_message(task_name: str, task_id: str, queue: str, args: list[Any],
                 expires_iso: str | None = None) -> bytes:
    """The JSON document kombu's Redis transport LPUSHes onto the list named `queue`."""
    body = orjson.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    headers = {
        "lang": "py", "task": task_name, "id": task_id, "shadow": None, "eta": None,
        "expires": expires_iso, "group": None, "group_index": None, "retries": 0,
        "timelimit": [None, None], "root_id": task_id, "parent_id": None,
        "argsrepr": "(…)", "kwargsrepr": "{}", "origin": _ORIGIN, "ignore_result": True,
        "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
    }
    properties = {
        "correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
        "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
    }
    return orjson.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8",
        "content-type": "application/json", "headers": headers, "properties": properties,
    })


def task_call(message: bytes | str) -> tuple[str, list[Any]]:
    """The task name and positional arguments of such a message (any protocol-2 JSON message kombu wrote)."""
    document = orjson.loads(message)
    body = document["body"]
    if document.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    if document.get("content-type") != "application/json":
        raise ValueError(f"unsupported content type {document.get('content-type')!r}")
    args = orjson.loads(body)[0]
    return str(document["headers"]["task"]), list(args)
