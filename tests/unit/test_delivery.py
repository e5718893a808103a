"""Job delivery against a real redis-server: the task-message codec, take-and-lease, the rescue of a dead
worker's jobs, the fencing of a worker whose lease was taken over, and the consumer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import fakeredis
import orjson
import pytest
import redis.asyncio as aioredis

from common import inflight, keys
from common.celery_message import UnreadableJob, job_message, read_job, task_message
from common.jobs import JobEnvelope, decode_event, encode_event
from common.lease import Lease, LeaseLost, Leases, NotAlive, end_in
from common.lost_streams import Cut, LostStreams
from common.usage import UsageEntry, UsageRecorder
from config import load_settings
from tests.harness import RedisProcess
from workers.consumer import Consumer
from workers.heartbeat import Heartbeat
from workers.slots import Slots

T = TypeVar("T")

CONFIG = Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisProcess]:
    running = RedisProcess.start()
    yield running
    running.stop()


@pytest.fixture
def url(server: RedisProcess) -> str:
    server.client().flushdb()  # this module's own server
    return server.url


def run(url: str, test: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        redis = aioredis.Redis.from_url(url)
        try:
            return await test(redis)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def job(job_id: str, tier: str = "tier2", stream: bool = False, reply_to: str = "reply:test") -> JobEnvelope:
    return JobEnvelope(id=job_id, reply_to=reply_to, tier=tier, models=["tier2/gpt-3.5-turbo"],
                       body={"messages": [{"role": "user", "content": "oi"}]}, stream=stream,
                       deadline=time.time() + 30, organization_id="org_123", estimated_tokens=7)


async def queue(redis: aioredis.Redis, *jobs: JobEnvelope) -> None:
    for queued in jobs:
        await redis.lpush(keys.queue(queued.tier), job_message(queued))


def lost_streams(redis: aioredis.Redis) -> LostStreams:
    """As the API and workers build it: the seed's deployments priced, audit content redacted."""
    return LostStreams(redis, load_settings(CONFIG, environ={}).deployments(), "redacted")


async def take(redis: aioredis.Redis, worker: str, tiers: list[str], at_most: int = 32,
               state_keys: tuple[str, ...] = (), dies: bool = False) -> tuple[list[Any], list[bytes | None]]:
    """A live worker's take (its liveness recorded as its heartbeat does); `dies`: its heartbeat lapses after."""
    await redis.set(keys.worker_info(worker), b"{}")
    taken = await Leases(redis).take(worker, uuid.uuid4().hex, tiers, at_most, time.time(), state_keys)
    if dies:
        await redis.delete(keys.worker_info(worker))
    return taken


# --- the task-message codec --------------------------------------------------------------------------------


def test_a_queued_job_reads_back_as_the_job_that_was_queued() -> None:
    queued = job("abc", stream=True)
    message = job_message(queued)
    assert read_job(message) == queued
    document = orjson.loads(message)
    assert document["headers"]["task"] == keys.COMPLETE_TASK
    assert document["properties"]["delivery_info"]["routing_key"] == "tier2"


@pytest.mark.parametrize("message", [
    b"not json", b"{}", b'{"body": "??", "headers": {}}',
    task_message("other.task", "x", "tier2", [{"id": "x"}]),
    task_message(keys.COMPLETE_TASK, "x", "tier2", []),
])
def test_a_message_that_holds_no_job_is_unreadable_not_a_crash(message: bytes) -> None:
    with pytest.raises(UnreadableJob):
        read_job(message)


# --- take and lease ------------------------------------------------------------------------------------------


def test_taking_jobs_leases_each_to_the_worker_in_the_same_step(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await queue(redis, job("a"), job("b"), job("c"), job("d", tier="tier1"))
        taken, _ = await take(redis, "host:1", ["tier1", "tier2"], at_most=3)
        assert [(t.tier, read_job(t.message).id) for t in taken] == [("tier1", "d"), ("tier2", "a"), ("tier2", "b")]
        assert await redis.llen(keys.queue("tier2")) == 1  # "c" waits for the next take
        records = {k.decode(): inflight.InflightRecord.parse(v)
                   for k, v in (await redis.hgetall(keys.inflight("tier2"))).items()}
        assert set(records) == {"a", "b"}
        assert {r.worker for r in records.values()} == {"host:1"}
        leases = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.leases("tier2"))).items()}
        assert leases == {job_id: records[job_id].lease for job_id in ("a", "b")}
        assert len({t.token for t in taken}) == 3
        assert read_job(records["a"].message) == read_job(taken[1].message)
        assert [t.task_id for t in taken] == ["d", "a", "b"]

    run(url, test)


def test_a_take_reports_cancelled_jobs_and_the_cooldown_state_and_drops_unreadable_messages(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await queue(redis, job("a"), job("b"))
        await redis.lpush(keys.queue("tier2"), b"garbage")
        await redis.set(keys.cancelled_flag("b"), 1)
        await redis.set(keys.model_cooldown("m1"), b"123.5")
        taken, state = await take(redis, "host:1", ["tier2"],
                                  state_keys=(keys.model_cooldown("m1"), keys.model_cooldown("m2")))
        assert [(t.message == b"garbage", t.token == "", t.cancelled) for t in taken] == \
            [(False, False, False), (False, False, True), (True, True, False)]
        assert state == [b"123.5", None]
        assert await redis.llen(keys.queue("tier2")) == 0
        assert await redis.hlen(keys.inflight("tier2")) == 2  # the garbage is nobody's job

    run(url, test)


def test_a_message_celerys_own_client_wrote_is_leased_under_its_task_id(url: str) -> None:
    """kombu writes JSON with spaces after colons, and its task id is not the job's id."""
    async def test(redis: aioredis.Redis) -> None:
        document = orjson.loads(job_message(job("envelope-id")))
        document["headers"]["id"] = "0f9c-celery-uuid"
        document["headers"]["argsrepr"] = "[{'id': 'envelope-id'}]"
        await redis.lpush(keys.queue("tier2"), json.dumps(document).encode())
        taken, _ = await take(redis, "host:1", ["tier2"])
        assert [(t.task_id, bool(t.token)) for t in taken] == [("0f9c-celery-uuid", True)]
        assert await redis.hkeys(keys.inflight("tier2")) == [b"0f9c-celery-uuid"]
        assert read_job(taken[0].message).id == "envelope-id"

    run(url, test)


def test_a_worker_whose_liveness_is_not_recorded_takes_nothing(url: str) -> None:
    """Started (or back) while Redis was away, its first heartbeat not yet landed: what it took, a rescuer would
    take over as a dead worker's while it ran it."""
    async def test(redis: aioredis.Redis) -> None:
        await queue(redis, job("a"))
        with pytest.raises(NotAlive):
            await Leases(redis).take("new:1", "n", ["tier2"], 32, time.time())
        assert await redis.llen(keys.queue("tier2")) == 1
        assert await redis.hlen(keys.inflight("tier2")) == 0

    run(url, test)


# --- rescue --------------------------------------------------------------------------------------------------


def test_a_dead_workers_job_that_sent_nothing_is_queued_again_as_it_was(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await queue(redis, job("a"), job("b"))
        taken, _ = await take(redis, "dead:1", ["tier2"], at_most=1, dies=True)
        await take(redis, "alive:2", ["tier2"], at_most=1)
        done = await inflight.rescue_orphans(redis, ["tier2"], lost_streams(redis))
        assert done == [("a", "redispatched")]
        assert await redis.lrange(keys.queue("tier2"), 0, -1) == [taken[0].message]
        assert set(await redis.hkeys(keys.inflight("tier2"))) == {b"b"}  # the live worker's job stays its own
        assert set(await redis.hkeys(keys.leases("tier2"))) == {b"b"}
        assert await inflight.rescue_orphans(redis, ["tier2"], lost_streams(redis)) == []  # claimed once

    run(url, test)


def test_a_dead_workers_job_whose_output_had_started_is_ended_with_a_worker_lost_error_event(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await queue(redis, job("s", stream=True, reply_to="reply:s"))
        taken, _ = await take(redis, "dead:1", ["tier2"], dies=True)
        held = Lease("s", "tier2", taken[0].token)
        await Leases(redis).publish(held, "reply:s", [b"start", b"chunks"])
        pubsub = redis.pubsub()
        await pubsub.subscribe("reply:s")
        await pubsub.get_message(timeout=1)
        assert await inflight.rescue_orphans(redis, ["tier2"], lost_streams(redis)) == [("s", "failed")]
        event = decode_event((await pubsub.get_message(timeout=2))["data"])
        assert (event["type"], event["error"]["code"]) == ("error", "worker_lost")
        assert await redis.llen(keys.queue("tier2")) == 0, "a job whose output had started was run again"
        assert not await redis.hexists(keys.leases("tier2"), "s")
        await pubsub.aclose()

    run(url, test)


def test_no_worker_is_declared_dead_until_redis_has_been_up_as_long_as_a_heartbeat_may_lapse() -> None:
    """Right after a Redis restart every heartbeat missed during the outage reads as a death."""
    fresh = RedisProcess.start()
    try:
        assert not run(fresh.url, inflight.up_long_enough)
    finally:
        fresh.stop()

    async def embedded() -> bool:  # fakeredis has no INFO and never restarts
        return await inflight.up_long_enough(fakeredis.FakeAsyncRedis())

    assert asyncio.run(embedded())


async def cut_stream(redis: aioredis.Redis, job_id: str) -> Lease:
    """A stream job taken by the worker "dead:1", which published its start and chunks before dying."""
    await queue(redis, job(job_id, stream=True, reply_to=f"reply:{job_id}"))
    taken, _ = await take(redis, "dead:1", ["tier2"], dies=True)
    held = Lease(job_id, "tier2", taken[0].token)
    await Leases(redis).publish(held, f"reply:{job_id}", [b"start", b"chunks"])
    return held


async def ledger_usage(redis: aioredis.Redis) -> list[dict[str, Any]]:
    """The usage entries counted (the ledger stream the database writer drains), with their audit records."""
    return [{k.decode(): orjson.loads(v) for k, v in fields.items()}
            for _, fields in await redis.xrange(keys.LEDGER_STREAM)]


def test_a_stream_its_api_stopped_relaying_before_its_worker_was_found_dead_is_counted_by_the_rescue(
        url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await cut_stream(redis, "c")
        lost = lost_streams(redis)
        cut = Cut(504, 9, "tier2/gpt-3.5-turbo")
        assert not await lost.note_cut(job("c", stream=True), cut), "no rescuer has marked it lost yet"
        pubsub = redis.pubsub()
        await pubsub.subscribe("reply:c")
        await pubsub.get_message(timeout=1)
        assert await inflight.rescue_orphans(redis, ["tier2"], lost) == [("c", "failed")]
        assert await pubsub.get_message(timeout=0.3) is None, "nobody listens for it any more"
        [counted] = await ledger_usage(redis)
        usage, audit = counted["usage"], counted["audit"]
        assert (usage["request_id"], usage["completion_tokens"], usage["prompt_tokens"]) == ("c", 9, 7)
        assert usage["cost_nusd"] > 0, "the chunks its client got were not billed"
        assert (audit["status"], audit["model"]) == (504, "tier2/gpt-3.5-turbo")
        assert await inflight.rescue_orphans(redis, ["tier2"], lost) == []
        assert not await redis.exists(keys.streams_to_count()), "a counted stream stays to be counted"
        await lost.count(job("c", stream=True), cut)  # the API's own count, were it to come too: still once
        assert len(await ledger_usage(redis)) == 1
        await pubsub.aclose()

    run(url, test)


def test_a_stream_whose_worker_was_found_dead_first_is_counted_by_the_api_when_it_stops_relaying(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await cut_stream(redis, "d")
        lost = lost_streams(redis)
        assert await inflight.rescue_orphans(redis, ["tier2"], lost) == [("d", "failed")]  # worker_lost published
        assert await ledger_usage(redis) == [], "the rescue cannot know how many chunks went out"
        assert await lost.note_cut(job("d", stream=True), Cut(499, 4, "tier2/gpt-3.5-turbo")), \
            "the API must learn that nobody else will count the stream"

    run(url, test)


def test_a_lost_stream_whose_counter_died_before_counting_is_counted_by_the_next_watchdog_round(url: str) -> None:
    """The rescuer claimed it (finding the API's note), or the API found the lost mark, then died: the stream
    waits in keys.streams_to_count with its job, and any process's watchdog counts it."""
    async def test(redis: aioredis.Redis) -> None:
        lost = lost_streams(redis)
        held = await cut_stream(redis, "f")
        await lost.note_cut(job("f", stream=True), Cut(504, 6, "tier2/gpt-3.5-turbo"))
        assert await Leases(redis).claim("tier2", "f", held.token) is not None  # ... and the rescuer dies here
        await cut_stream(redis, "g")
        await inflight.rescue_orphans(redis, ["tier2"], lost)  # worker_lost: nobody was listening
        assert await lost.note_cut(job("g", stream=True), Cut(499, 2, "tier2/gpt-3.5-turbo"))  # the API dies here
        assert await ledger_usage(redis) == []
        assert await lost.count_left() == 2
        counted = {u["usage"]["request_id"]: u["usage"]["completion_tokens"] for u in await ledger_usage(redis)}
        assert counted == {"f": 6, "g": 2}
        assert await lost.count_left() == 0

    run(url, test)


def test_a_note_for_a_stream_whose_worker_lives_leaves_the_count_to_that_worker(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await cut_stream(redis, "e")
        await redis.set(keys.worker_info("dead:1"), b"{}")  # alive after all (its heartbeat came back)
        lost = lost_streams(redis)
        assert not await lost.note_cut(job("e", stream=True), Cut(499, 4, "tier2/gpt-3.5-turbo"))
        assert await inflight.rescue_orphans(redis, ["tier2"], lost) == []
        assert await ledger_usage(redis) == []
        assert 0 < await redis.ttl(keys.stream_cut("e")) <= 3600, "an unread note must expire"

    run(url, test)


# --- fencing -------------------------------------------------------------------------------------------------


def test_a_worker_whose_lease_was_taken_over_publishes_nothing_and_bills_nothing(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        await queue(redis, job("z", reply_to="reply:z"))
        taken, _ = await take(redis, "slow:1", ["tier2"], dies=True)
        zombie = Lease("z", "tier2", taken[0].token)
        rescued = await inflight.rescue_orphans(redis, ["tier2"], lost_streams(redis))
        assert rescued == [("z", "redispatched")]  # slow:1 thought dead
        taken_again, _ = await take(redis, "other:2", ["tier2"])
        pubsub = redis.pubsub()
        await pubsub.subscribe("reply:z")
        await pubsub.get_message(timeout=1)
        with pytest.raises(LeaseLost):
            await Leases(redis).publish(zombie, "reply:z", [encode_event("z", "result", completion={})])
        assert await pubsub.get_message(timeout=0.3) is None
        recorder = UsageRecorder(redis)
        entry = UsageEntry("z", "org_123", "tier2", "m", None, 10, 10, 0.01, False, False, time.time())

        def end(pipe: Any) -> None:
            end_in(pipe, zombie)

        recorded = await recorder.record(entry, {"request_id": "z"}, also=end, permit=keys.settle_permit("z"))
        assert not recorded.counted
        assert await redis.xlen(keys.LEDGER_STREAM) == 0
        assert await redis.hexists(keys.inflight("tier2"), "z"), "the zombie's end removed the new owner's record"
        owner = Lease("z", "tier2", taken_again[0].token)
        await Leases(redis).publish(owner, "reply:z", [b"answer"])
        assert (await pubsub.get_message(timeout=2))["data"] == b"answer"

        def owner_end(pipe: Any) -> None:
            end_in(pipe, owner)

        assert (await recorder.record(entry, {"request_id": "z"}, also=owner_end,
                                      permit=keys.settle_permit("z"))).counted
        assert await redis.xlen(keys.LEDGER_STREAM) == 1
        assert not await redis.hexists(keys.inflight("tier2"), "z")
        await pubsub.aclose()

    run(url, test)


# --- the consumer --------------------------------------------------------------------------------------------


def test_the_consumer_takes_every_job_within_its_slots_and_wakes_for_a_job_queued_later(url: str) -> None:
    async def test(redis: aioredis.Redis) -> None:
        slots = Slots(2)
        started: list[tuple[str, float]] = []
        most = 0

        def start(taken: list[Any], cooling: dict[str, bytes | None]) -> None:
            nonlocal most
            assert cooling == {"m1": None}
            for item in taken:
                slots.take()
                started.append((read_job(item.message).id, time.monotonic()))
                asyncio.get_running_loop().call_later(0.05, slots.give_back)
            most = max(most, slots.held)

        await queue(redis, *(job(f"j{i}") for i in range(5)))
        heartbeat = Heartbeat(url, "host:1", ["tier1", "tier2"], lambda now: b"{}", lambda: False)
        consumer = Consumer(url, "host:1", ["tier1", "tier2"], slots, start, {"m1": keys.model_cooldown("m1")},
                            heartbeat.beat)  # no heartbeat yet: the consumer beats before its first take
        running = asyncio.create_task(consumer.run())
        while len(started) < 5:
            await asyncio.sleep(0.01)
        assert [s[0] for s in started] == [f"j{i}" for i in range(5)]
        assert most <= 2
        await asyncio.sleep(1.5)  # idle past a wait's timeout
        queued_at = time.monotonic()
        await queue(redis, job("late", tier="tier1"))
        while len(started) < 6:
            await asyncio.sleep(0.005)
        assert started[-1][0] == "late"
        assert started[-1][1] - queued_at < 0.2, "a job queued to an idle worker waited"
        assert await redis.hlen(keys.inflight("tier2")) == 5
        consumer.stop()
        await asyncio.wait_for(running, 3)

    run(url, test)
