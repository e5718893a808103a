"""The consumer: takes jobs off a worker's tier queues as its slots free up, a burst at a time, each leased to
the worker in the same step (common/lease.py), and hands them to the runtime.

Waiting and taking are apart. Lua cannot block, so one connection per queue blocks on a no-op BLMOVE (the
queue's last message moved to where it was) until the queue holds a job, and wakes the consumer, whose take
script pops and leases up to a burst of jobs from every queue in one round trip. A blocking pop, as before,
took a job off its queue one round trip before anything recorded who held it: a worker killed in between
lost it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.lease import Leases, NotAlive, Taken
from workers.slots import Slots

log = logging.getLogger("tiergate.worker")

#: Most jobs taken in one step: a burst is shared among the workers of a tier, not swallowed by the first.
TAKE_AT_MOST = 32
#: How long a wait blocks before it looks again whether the worker still consumes (drain, stop).
WAIT_SECONDS = 1.0

#: Starts the jobs of one take; the second argument is the models' cooldown state read in that take.
Start = Callable[[list[Taken], dict[str, bytes | None]], None]


class Consumer:
    def __init__(self, redis_url: str, worker_id: str, queues: Sequence[str], slots: Slots, start: Start,
                 state_keys: dict[str, str], prove_alive: Callable[[], Awaitable[None]]) -> None:
        self._redis_url = redis_url
        self._prove_alive = prove_alive  # a heartbeat now: a take is refused until one has landed
        self._worker_id = worker_id
        self._queues = list(queues)
        self._slots = slots
        self._start = start
        self._state_keys = state_keys  # model → its cooldown key, read in each take
        self._nonce = uuid.uuid4().hex[:10]
        self._takes = 0
        self._work = asyncio.Event()
        self._round: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.consuming = True

    def stop(self) -> None:
        """Take nothing more (warm shutdown); jobs already taken run to their end."""
        self.consuming = False
        self._work.set()

    async def run(self) -> None:
        redis = aioredis.Redis.from_url(self._redis_url)
        leases = Leases(redis)
        waiters = [asyncio.create_task(self._wait(queue)) for queue in self._queues]
        order = list(self._queues)
        try:
            while self.consuming:
                await self._work.wait()
                self._work.clear()
                while self.consuming:
                    await self._slots.room.wait()
                    asked = min(self._slots.free, TAKE_AT_MOST)
                    try:
                        taken = await self._take(leases, order, asked)
                    except NotAlive:  # started, or back, while Redis was away: beat first
                        await self._beat()
                        continue
                    except (RedisError, OSError) as exc:  # Redis restarts: keep trying
                        log.warning("cannot take jobs from %s (%s); retrying", ",".join(order), exc)
                        await asyncio.sleep(0.5)
                        continue
                    order = order[1:] + order[:1]  # the next take starts at another tier, as kombu's did
                    if len(taken) < asked:
                        break  # the queues are empty for now
                self._next_round()
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._next_round()
            await redis.aclose()

    async def _take(self, leases: Leases, order: list[str], asked: int) -> list[Taken]:
        self._takes += 1
        models = list(self._state_keys)
        taken, state = await leases.take(self._worker_id, f"{self._nonce}.{self._takes}", order, asked, time.time(),
                                         [self._state_keys[m] for m in models])
        if taken:
            self._start(taken, dict(zip(models, state, strict=True)))
        return taken

    async def _beat(self) -> None:
        log.warning("no heartbeat of this worker in Redis yet; beating before taking jobs")
        try:
            await self._prove_alive()
        except Exception as exc:  # Redis away, or our bug: the consumer must outlive it, as the heartbeat does
            log.warning("heartbeat failed (%s); retrying", exc)
            await asyncio.sleep(0.5)

    def _next_round(self) -> None:
        """Wake the waiters that signalled work: the take they asked for is done."""
        if not self._round.done():
            self._round.set_result(None)
        self._round = asyncio.get_running_loop().create_future()

    async def _wait(self, queue: str) -> None:
        """Wake the consumer whenever `queue` holds a job and the worker has room for it."""
        redis = aioredis.Redis.from_url(self._redis_url)  # its own connection: a blocking call holds it
        try:
            while self.consuming:
                await self._slots.room.wait()
                try:
                    found = await redis.blmove(queue, queue, WAIT_SECONDS, "RIGHT", "RIGHT")
                except (RedisError, OSError) as exc:
                    log.warning("cannot wait on %s (%s); retrying", queue, exc)
                    await asyncio.sleep(0.5)
                    continue
                if found is not None and self.consuming:
                    done = self._round
                    self._work.set()
                    await done  # not again before that take: the job is still there until it is taken
        finally:
            await redis.aclose()
