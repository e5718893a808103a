"""Leases: who holds each job taken off a tier queue, in Redis, written in the step that takes it.

A job is always someone's. It is in its tier's queue, or in the tier's in-flight hash under the worker that
took it, with a lease token: the take script moves it from one to the other atomically, so a worker killed at
any instant loses none (common/inflight.py rescues a dead worker's jobs). Every later effect of the job is
fenced by its lease, checked in the same script that has the effect: a worker whose lease was taken over
(declared dead, its job re-run or failed) publishes nothing more (`publish`) and bills nothing
(`end_in` grants the one permit to count usage, common/usage.py).

The lease's value is the token while nothing went out, then "token out": from then on the job cannot be
re-run, only failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from common import keys
from common.lost_streams import CUT_KEPT_SECONDS, LOST

#: A permit outlives any pipeline round trip by far; unused (the usage script failed) it just expires.
PERMIT_SECONDS = 120
#: A sync answer is kept this long beside its publication: enough for an API to resubscribe after a Redis restart.
ANSWER_KEPT_SECONDS = 10

# The job's id is read with string.find, not cjson (decoding and re-encoding each message cost ~30 us of Redis's
# one thread per job), and each structure is written once per take, not once per job (a redis.call costs a few
# us). The id is the first "id" key of the headers (kombu's order: lang, task, id), written `"id": "` by kombu
# and `"id":"` by the API. The in-flight record is a JSON line, a newline, then the message as it was queued
# (one line: JSON strings escape newlines).
_TAKE = """
local queues = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[3 * queues + 1]) == 0 then return {{}, {}, 0} end
local room = tonumber(ARGV[4])
local taken = {}
for q = 0, queues - 1 do
  if room <= 0 then break end
  local messages = redis.call('RPOP', KEYS[3 * q + 1], room)
  if messages then
    room = room - #messages
    local records, leases, flags, held = {}, {}, {}, {}
    for _, message in ipairs(messages) do
      local headers = string.find(message, '"headers":', 1, true)
      local at = headers and string.find(message, '"id":', headers, true)
      local id = at and string.match(message, '^"id": ?"([%w%-_.:]+)"', at)
      if id then
        local token = ARGV[3] .. '.' .. (#taken + 1)
        records[#records + 1] = id
        records[#records + 1] = '{"worker":"' .. ARGV[2] .. '","lease":"' .. token .. '","started":' .. ARGV[5] ..
                                '}\\n' .. message
        leases[#leases + 1] = id
        leases[#leases + 1] = token
        flags[#flags + 1] = ARGV[6] .. id
        held[#held + 1] = #taken + 1
        taken[#taken + 1] = {q, message, token, 0, id}
      else
        taken[#taken + 1] = {q, message, '', 0, ''}
      end
    end
    if #records > 0 then
      redis.call('HSET', KEYS[3 * q + 2], unpack(records))
      redis.call('HSET', KEYS[3 * q + 3], unpack(leases))
      local cancelled = redis.call('MGET', unpack(flags))
      for i, index in ipairs(held) do
        if cancelled[i] then taken[index][4] = 1 end
      end
    end
  end
end
local state = {}
if #KEYS > 3 * queues + 1 then state = redis.call('MGET', unpack(KEYS, 3 * queues + 2)) end
return {state, taken, 1}
"""

_PUBLISH = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held ~= ARGV[3] then
  if held ~= ARGV[2] then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
for i = 6, #ARGV do redis.call('PUBLISH', ARGV[4], ARGV[i]) end
if ARGV[5] ~= '0' then redis.call('SET', KEYS[2], ARGV[#ARGV], 'EX', ARGV[5]) end
return 1
"""


_END = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held ~= ARGV[2] and held ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
return 1
"""

_CLAIM = """
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held or (held ~= ARGV[2] and string.sub(held, 1, #ARGV[2] + 1) ~= ARGV[2] .. ' ') then return false end
local record = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
local cut = false
if string.find(held, ' ', 1, true) then
  cut = redis.call('GET', KEYS[3])
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
  if cut and cut ~= ARGV[3] and record then
    redis.call('HSET', KEYS[4], ARGV[1], cut .. '\\n' .. string.sub(record, string.find(record, '\\n', 1, true) + 1))
  end
end
return {record or '', held, cut or ''}
"""


def holder(lease: bytes) -> tuple[str, str]:
    """(worker, token) of a lease's value: tokens are "<worker>/<nonce>.<take>.<n>", so the watchdog learns who
    holds each job from the small leases hash, not from the records, which carry whole prompts."""
    token = lease.partition(b" ")[0].decode()
    return token.rpartition("/")[0], token


class LeaseLost(Exception):
    """This worker's lease on a job was taken over: it was declared dead and its job rescued."""


class NotAlive(Exception):
    """A take by a worker whose liveness is not recorded (its first heartbeat has not landed, or its heartbeats
    lapsed): it took nothing, since a rescuer would take its jobs over as a dead worker's."""


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one job."""

    job_id: str
    tier: str
    token: str

    @property
    def before_output(self) -> str:
        return self.token

    @property
    def with_output(self) -> str:
        return f"{self.token} out"


@dataclass(frozen=True)
class Taken:
    """One message taken off a queue: leased under `token` by its task id (the API makes it the job's id), or
    unreadable (no token: off the queue for good)."""

    tier: str
    message: bytes
    token: str
    cancelled: bool
    task_id: str = ""


@dataclass(frozen=True)
class Claimed:
    """A dead worker's job, claimed by one rescuer: its in-flight record, whether output went out, and then the
    note its API left if it stopped relaying the stream already (common/lost_streams.py)."""

    record: bytes
    produced: bool
    cut: bytes | None = None


class Leases:
    """The lease scripts on one Redis client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self._publish = redis.register_script(_PUBLISH)
        self._claim = redis.register_script(_CLAIM)

    async def take(self, worker: str, nonce: str, queues: Sequence[str], at_most: int, now: float,
                   state_keys: Sequence[str] = ()) -> tuple[list[Taken], list[bytes | None]]:
        """Take up to `at_most` jobs off these tier queues, in order, each leased to `worker` in the same step
        under a token "<worker>/<nonce>.<n>" (`nonce` unique to this take); also read `state_keys` (the models'
        cooldowns, so that a job starts with no round trip of its own). NotAlive when the worker's liveness is
        not recorded (keys.worker_info): it takes nothing until its heartbeat lands."""
        script_keys = [k for tier in queues for k in (keys.queue(tier), keys.inflight(tier), keys.leases(tier))]
        state, taken, alive = await self._take(keys=[*script_keys, keys.worker_info(worker), *state_keys],
                                               args=[len(queues), worker, f"{worker}/{nonce}", at_most, now,
                                                     keys.cancelled_flag("")])
        if not alive:
            raise NotAlive(worker)
        jobs = [Taken(queues[int(index)], message, token.decode(), bool(cancelled), task.decode())
                for index, message, token, cancelled, task in taken]
        return jobs, list(state)

    async def publish(self, lease: Lease, channel: str, events: Sequence[bytes]) -> None:
        """Publish a job's events if its lease still holds, marking it as having produced output; raises
        LeaseLost (and publishes nothing) when it does not."""
        held = await self._publish(keys=[keys.leases(lease.tier), keys.job_answer(lease.job_id)],
                                   args=[lease.job_id, lease.before_output, lease.with_output, channel, 0, *events])
        if not held:
            raise LeaseLost(lease.job_id)

    async def claim(self, tier: str, job_id: str, token: str) -> Claimed | None:
        """Take over the job a dead worker held under `token`; None when another rescuer, or the worker's own
        end, came first. A job whose output went out is marked lost in the same step, and one whose API left its
        note is put with it in keys.streams_to_count (common/lost_streams.py)."""
        found = await self._claim(keys=[keys.inflight(tier), keys.leases(tier), keys.stream_cut(job_id),
                                        keys.streams_to_count()], args=[job_id, token, LOST, CUT_KEPT_SECONDS])
        if not found:
            return None
        record, held, cut = found
        return Claimed(record, b" " in held, cut or None)


def answer_in(pipe: Any, lease: Lease, channel: str, answer: bytes, keep: bool) -> None:
    """Queue, on a pipeline the caller runs (a plain EVAL, as `end_in`), a job's last event: published only if the
    lease still holds, and, with `keep` (a sync answer), kept ANSWER_KEPT_SECONDS (keys.job_answer). Queued
    before `end_in`, a job's answer and its usage are one round trip."""
    pipe.eval(_PUBLISH, 2, keys.leases(lease.tier), keys.job_answer(lease.job_id), lease.job_id, lease.before_output,
              lease.with_output, channel, ANSWER_KEPT_SECONDS if keep else 0, answer)


def end_in(pipe: Any, lease: Lease) -> None:
    """Queue, on a pipeline the caller runs, the end of a lease: forget the job in flight and, if the lease still
    held, grant the permit to count its usage (a plain EVAL: no NoScriptError inside a pipeline)."""
    pipe.eval(_END, 3, keys.leases(lease.tier), keys.inflight(lease.tier), keys.settle_permit(lease.job_id),
              lease.job_id, lease.before_output, lease.with_output, PERMIT_SECONDS)

