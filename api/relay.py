"""One pub/sub connection per API process, dispatching job events to the requests waiting for them.

Each process listens on its own reply channel (named in every job it enqueues), subscribed once at start,
so no request subscribes, and no event can arrive before its listener exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis

from common import keys
from common.errors import queue_unavailable
from common.jobs import decode_event, encode_event

log = logging.getLogger("tiergate.api")

#: Events after which a worker sends nothing more for the job (common/jobs.py encode_event).
_LAST_EVENTS = frozenset(("result", "end", "error"))


class ReplyListener:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self.instance = uuid.uuid4().hex[:12]
        self.channel = keys.reply_channel(self.instance)
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._ended: set[str] = set()  # waited-for jobs whose worker sent their last event
        self._cache_watchers: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def register(self, job_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[job_id] = queue
        return queue

    def unregister(self, job_id: str) -> bool:
        """Stop listening for a job's events; True when it was waited for and its worker has not sent its last
        event (result, end or error), so the job may still be running."""
        if self._waiting.pop(job_id, None) is None:
            return False
        if job_id in self._ended:
            self._ended.discard(job_id)
            return False
        return True

    def watch_cache(self, key: str) -> asyncio.Event:
        """Set when a worker announces the cache entry `key` filled (or its job over): see common/cache.py."""
        event = asyncio.Event()
        self._cache_watchers.setdefault(key, set()).add(event)
        return event

    def unwatch_cache(self, key: str, event: asyncio.Event) -> None:
        watchers = self._cache_watchers.get(key)
        if watchers is not None:
            watchers.discard(event)
            if not watchers:
                del self._cache_watchers[key]

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, keys.CACHE_FILLED_CHANNEL)
                self._subscribed.set()
                cache_channel = keys.CACHE_FILLED_CHANNEL.encode()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["channel"] == cache_channel:
                        self._cache_filled(message["data"].decode())
                    else:
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as exc:  # Redis went away; resubscribe until it is back
                self._subscribed.clear()
                log.warning("reply subscription lost (%s); resubscribing", exc)
                self._fail_waiting()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(0.5)

    def _fail_waiting(self) -> None:
        """Events published while unsubscribed are lost for good, so every waiting request ends now with a 503
        rather than at its deadline with a 504 (and its job is cancelled as the request ends: Gateway.finish)."""
        error = queue_unavailable()
        for job_id, queue in self._waiting.items():
            queue.put_nowait(decode_event(encode_event(job_id, "error", **error.to_event(), reply_lost=True)))

    def _dispatch(self, raw: bytes) -> None:
        event = decode_event(raw)
        job_id = event.get("id", "")
        queue = self._waiting.get(job_id)
        if queue is not None:
            queue.put_nowait(event)
            if event["type"] in _LAST_EVENTS:
                self._ended.add(job_id)

    def _cache_filled(self, key: str) -> None:
        for event in self._cache_watchers.get(key, ()):
            event.set()
