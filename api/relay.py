"""One pub/sub connection per API process, dispatching job events to the requests waiting for them.

Each process listens on its own reply channel (named in every job it enqueues), subscribed once at start,
so no request subscribes, and no event can arrive before its listener exists.

When the subscription drops (Redis restarting), events published meanwhile are lost. A stream cannot be
replayed, so it ends at once with 503; a sync request is held for REPLY_GRACE_SECONDS: its worker keeps each
answer a few seconds beside publishing it (keys.job_answer), and once subscribed again the listener collects the
answers of the held requests. One held past the grace, with Redis still away, ends with 503.
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
#: How long a sync request waits for the reply subscription to come back before it ends with 503.
REPLY_GRACE_SECONDS = 3.0


class ReplyListener:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self.instance = uuid.uuid4().hex[:12]
        self.channel = keys.reply_channel(self.instance)
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._ended: set[str] = set()  # waited-for jobs whose worker sent their last event
        self._kept: set[str] = set()  # waited-for jobs whose answer the worker keeps (sync jobs)
        self._held: set[str] = set()  # of those, the ones waiting through a lost subscription
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

    def register(self, job_id: str, kept: bool = False) -> asyncio.Queue[dict[str, Any]]:
        """The queue of a job's events; `kept`: its worker keeps its answer (a sync job), so a lost subscription
        does not end the wait at once."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[job_id] = queue
        if kept:
            self._kept.add(job_id)
        return queue

    def unregister(self, job_id: str) -> bool:
        """Stop listening for a job's events; True when it was waited for and its worker has not sent its last
        event (result, end or error), so the job may still be running."""
        if self._waiting.pop(job_id, None) is None:
            return False
        self._kept.discard(job_id)
        self._held.discard(job_id)
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
                await self._collect_held()
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
        """Events published while unsubscribed are lost for good: every waiting stream ends now with a 503 rather
        than at its deadline with a 504 (and its job is cancelled as the request ends: Gateway.finish); sync
        requests are held, failed the same way only if the subscription is not back within the grace."""
        self._held |= self._kept
        self._fail([job_id for job_id in self._waiting if job_id not in self._held])
        asyncio.get_running_loop().call_later(REPLY_GRACE_SECONDS, self._fail_held)

    def _fail_held(self) -> None:
        if not self._subscribed.is_set():
            self._fail(list(self._held))
            self._held.clear()

    def _fail(self, job_ids: list[str]) -> None:
        error = queue_unavailable()
        for job_id in job_ids:
            queue = self._waiting.get(job_id)
            if queue is not None:
                queue.put_nowait(decode_event(encode_event(job_id, "error", **error.to_event(), reply_lost=True)))

    async def _collect_held(self) -> None:
        """Subscribed again: the answers published while the held requests could not hear them are in Redis."""
        held = list(self._held)
        if held:
            answers = await self._redis.mget([keys.job_answer(job_id) for job_id in held])
            self._held.difference_update(held)
            for answer in answers:
                if answer is not None:
                    self._dispatch(answer)

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
