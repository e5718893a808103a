"""A worker killed with SIGKILL mid-request, and a worker stopped with SIGTERM: what the client sees, what
Redis keeps (no job stuck in flight, usage counted once)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from common import keys
from common.inflight import InflightRecord
from common.jobs import decode_event, encode_event
from tests.harness import Gateway, RedisProcess, poll

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ORG = {"organization_id": "org_123"}  # enterprise plan: no rate limit gets in the way


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Two tier-2 workers, so one can die while the other takes over; one worker for the other tiers."""
    redis = RedisProcess.start()
    specs = [("tier1,tier3,tier4", 2), ("tier2", 2), ("tier2", 2)]
    running = Gateway(Path(tmp_path_factory.mktemp("fleet")), redis, worker_specs=specs).start()
    yield running
    running.stop()
    redis.stop()


def inflight(gateway: Gateway, tier: str) -> dict[str, dict[str, Any]]:
    """The tier's jobs in flight: who holds each, and whether its output has started (its lease says)."""
    client = gateway.redis.client()
    raw, leases = client.hgetall(keys.inflight(tier)), client.hgetall(keys.leases(tier))
    records = {k.decode(): InflightRecord.parse(v) for k, v in raw.items()}
    return {job_id: {"worker": record.worker, "id": job_id, "produced": b" " in leases.get(job_id.encode(), b"")}
            for job_id, record in records.items()}


def wait_inflight(gateway: Gateway, tier: str, produced: bool | None = None, seconds: float = 15) -> dict[str, Any]:
    """The one job in flight on `tier` (optionally once it has produced output)."""

    def found() -> dict[str, Any] | None:
        return next((r for r in inflight(gateway, tier).values() if produced is None or r["produced"] == produced),
                    None)

    return poll(found, f"no job in flight on {tier} within {seconds}s", seconds)


def worker_named(gateway: Gateway, worker_id: str) -> str:
    pid = int(worker_id.rsplit(":", 1)[1])
    names = [name for name, process in gateway.processes.items() if process.pid == pid]
    assert names, f"worker {worker_id} is none of the processes this test started"
    return names[0]


def kill_worker(gateway: Gateway, worker_id: str) -> str:
    name = worker_named(gateway, worker_id)
    os.kill(gateway.processes[name].pid, signal.SIGKILL)
    gateway.processes[name].wait(10)
    return name


def audit_records(gateway: Gateway, request_id: str, seconds: float = 30) -> list[dict[str, Any]]:
    """The request's audit records (one per counted usage), once it is counted and in the database."""
    gateway.wait_recorded([request_id], seconds=seconds)
    response = httpx.get(f"{gateway.ai_url}/admin/audit", params={"request_id": request_id},
                         headers=gateway.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_no_job_left(gateway: Gateway, seconds: float = 20) -> None:
    poll(lambda: not any(inflight(gateway, t) for t in ("tier1", "tier2", "tier3", "tier4")),
         lambda: f"jobs stuck in flight: {inflight(gateway, 'tier2')}", seconds, interval=0.2)
    depth = gateway.redis.client().llen("tier2")
    assert depth == 0, f"{depth} jobs left waiting on tier2"


def restart(gateway: Gateway, name: str, tiers: str) -> None:
    gateway.start_worker(tiers, 2, name=name)
    poll(lambda: gateway.redis.client().zcard(keys.worker_heartbeat(tiers)) >= 2,
         "the restarted worker never sent a heartbeat", seconds=60, interval=0.2)


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "tier2", "messages": [{"role": "user", "content": text}], "metadata": ORG, **extra}


def test_a_sync_request_whose_worker_is_killed_before_answering_is_answered_by_another_worker(fleet: Gateway) -> None:
    directive = "[sim ttft_ms=2500 tokens=12]"
    result: dict[str, Any] = {}

    def ask() -> None:
        started = time.monotonic()
        response = httpx.post(f"{fleet.ai_url}/chat/completions", json=chat(f"{directive} qual o prazo?"),
                              headers=fleet.headers(), timeout=90)
        result.update(response=response, seconds=time.monotonic() - started)

    thread = threading.Thread(target=ask)
    thread.start()
    record = wait_inflight(fleet, "tier2")
    poll(lambda: any(d.startswith(directive) for d in fleet.sim_stats()["by_directive"]),
         "the provider call never started")
    name = kill_worker(fleet, record["worker"])
    thread.join(60)

    response = result["response"]
    assert response.status_code == 200, f"expected the re-dispatched answer, got {response.status_code} {response.text}"
    assert response.json()["choices"][0]["message"]["content"]
    assert result["seconds"] < 30, f"the rescue took {result['seconds']:.1f}s"
    calls = sum(n for d, n in fleet.sim_stats()["by_directive"].items() if d.startswith(directive))
    assert calls == 2, f"the provider should be called by the dead worker and once more after it; got {calls}"
    wait_no_job_left(fleet)
    request_id = response.headers["x-request-id"]
    records = audit_records(fleet, request_id)
    assert len(records) == 1, f"usage of {request_id} recorded {len(records)} times: {records}"
    assert records[0]["status"] == 200
    restart(fleet, name, "tier2")


@dataclass
class KilledStream:
    """A stream whose tier-2 worker was SIGKILLed after its third line: what its client read, and when."""

    request_id: str
    lines: list[str]
    worker: str  # the killed worker's process name, to restart
    killed_at: float


def stream_and_kill_its_worker(fleet: Gateway, headers: dict[str, str], leave_at_kill: bool = False) -> KilledStream:
    """Stream an 80-chunk answer, kill its worker after the third line, then read on (or leave at once)."""
    body = chat("[sim tokens=80 token_delay_ms=150] me explica o plano", stream=True)
    lines: list[str] = []
    killed: tuple[str, float] | None = None
    with httpx.stream("POST", f"{fleet.ai_url}/chat/completions", json=body, headers=headers,
                      timeout=60) as response:
        assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.read()[:500]!r}"
        for line in response.iter_lines():
            if line.startswith("data: "):
                lines.append(line)
            if killed is None and len(lines) == 3:
                killed = kill_worker(fleet, wait_inflight(fleet, "tier2", produced=True)["worker"]), time.monotonic()
                if leave_at_kill:
                    break
    assert killed is not None, "the stream ended before the worker could be killed"
    return KilledStream(response.headers["x-request-id"], lines, *killed)


def test_a_stream_whose_worker_is_killed_mid_answer_ends_with_an_error_event_and_done(fleet: Gateway) -> None:
    started = time.monotonic()
    cut = stream_and_kill_its_worker(fleet, fleet.headers())
    assert cut.lines[-1] == "data: [DONE]", f"the stream did not end with [DONE]: {cut.lines[-3:]}"
    error = orjson.loads(cut.lines[-2][6:])
    assert error["error"]["code"] == "worker_lost", f"expected the worker_lost error event, got {error}"
    assert time.monotonic() - cut.killed_at < 15, "the client waited too long to learn its worker had died"
    assert time.monotonic() - started < 40
    wait_no_job_left(fleet)
    records = audit_records(fleet, cut.request_id)
    assert len(records) == 1, f"the cut stream must be counted exactly once: {records}"
    relayed = len(cut.lines) - 2  # its chunks, less the error event and [DONE]
    assert records[0]["status"] == 502 and records[0]["completion_tokens"] == relayed, records[0]
    assert records[0]["cost_usd"] > 0, "the tokens the dead worker relayed were not billed"
    restart(fleet, cut.worker, "tier2")


@pytest.mark.parametrize("ending", ["deadline", "client gone"])
def test_a_stream_cut_before_its_dead_worker_is_rescued_is_billed_once_for_what_its_client_got(
        fleet: Gateway, ending: str) -> None:
    """The stream stops being relayed (its deadline passes, or its client leaves) seconds before the rescue can
    know its worker died: the rescue counts it from the note the API left."""
    if ending == "deadline":
        cut = stream_and_kill_its_worker(fleet, {**fleet.headers(), "x-gateway-timeout": "3"})
        assert cut.lines[-1] == "data: [DONE]" and "deadline_exceeded" in cut.lines[-2], cut.lines[-3:]
        assert time.monotonic() - cut.killed_at < 5, "the deadline, not the rescue, should have ended the stream"
    else:
        cut = stream_and_kill_its_worker(fleet, fleet.headers(), leave_at_kill=True)
    [record] = audit_records(fleet, cut.request_id)
    assert record["status"] == (504 if ending == "deadline" else 499), record
    if ending == "deadline":  # every chunk the API relayed reached the client: its chunks, less the error and [DONE]
        assert record["completion_tokens"] == len(cut.lines) - 2, record
    else:  # the API may have relayed a few more before it noticed the client had gone
        assert record["completion_tokens"] >= len(cut.lines), record
    assert record["cost_usd"] > 0, "the chunks relayed before the worker died were not billed"
    wait_no_job_left(fleet)
    restart(fleet, cut.worker, "tier2")


def test_a_worker_stopped_with_sigterm_finishes_its_running_jobs_and_takes_no_new_ones(fleet: Gateway) -> None:
    directive = "[sim ttft_ms=3000 tokens=5]"
    results: list[httpx.Response] = []

    def ask() -> None:
        results.append(httpx.post(f"{fleet.ai_url}/chat/completions", json=chat(f"{directive} oi"),
                                  headers=fleet.headers(), timeout=90))

    first = threading.Thread(target=ask)
    first.start()
    record = wait_inflight(fleet, "tier2")
    name = worker_named(fleet, record["worker"])
    draining = fleet.processes[name]
    draining.send_signal(signal.SIGTERM)

    def advertised() -> set[str]:
        return {m.decode() for m in fleet.redis.client().zrange(keys.worker_heartbeat("tier2"), 0, -1)}

    poll(lambda: record["worker"] not in advertised(),
         lambda: f"the draining worker {record['worker']} still advertises tier2: {advertised()}", seconds=0.5)
    # A job sent now must be run by the other tier-2 worker, not the draining one.
    later = [threading.Thread(target=ask) for _ in range(2)]
    for thread in later:
        thread.start()
    ran_on: dict[str, set[str]] = {}
    while any(thread.is_alive() for thread in [first, *later]):
        for job_id, job in inflight(fleet, "tier2").items():
            ran_on.setdefault(job_id, set()).add(job["worker"])
        time.sleep(0.05)
    new_jobs = {job_id: workers for job_id, workers in ran_on.items() if job_id != record["id"]}
    assert len(new_jobs) == 2, f"the two later jobs were not seen running: {ran_on}"
    assert all(record["worker"] not in workers for workers in new_jobs.values()), \
        f"the draining worker {record['worker']} ran a new job: {new_jobs}"
    assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
    assert draining.wait(30) == 0, "the worker did not exit cleanly after its job ended"
    assert all(r.json()["choices"][0]["message"]["content"] for r in results)
    restart(fleet, name, "tier2")


def test_a_worker_declared_dead_while_it_was_only_paused_publishes_nothing_and_bills_nothing(fleet: Gateway) -> None:
    """SIGSTOP stands for a worker too late to beat (a stalled host): its job is re-run by the other worker, and
    when it wakes up its answer, fenced by its lost lease, reaches no one and is not billed."""
    directive = "[sim ttft_ms=1500 tokens=6]"
    result: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:  # every event on every API reply channel
        pubsub = fleet.redis.client().pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(keys.reply_channel("*"))
        listening.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "done" not in result:
            message = pubsub.get_message(timeout=0.2)
            if message is not None:
                events.append(decode_event(message["data"]))
        pubsub.close()

    def ask() -> None:
        result["response"] = httpx.post(f"{fleet.ai_url}/chat/completions", json=chat(f"{directive} e o frete?"),
                                        headers=fleet.headers(), timeout=90)

    listener = threading.Thread(target=listen)
    listener.start()
    assert listening.wait(10)
    asker = threading.Thread(target=ask)
    asker.start()
    record = wait_inflight(fleet, "tier2")
    paused = fleet.processes[worker_named(fleet, record["worker"])]
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        asker.join(60)
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    response = result["response"]
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    fenced = f"job {request_id}: this worker's lease was taken over"
    deadline = time.monotonic() + 20
    while fenced not in fleet.log.read_text(errors="replace"):  # the woken worker tried to go on
        assert time.monotonic() < deadline, "the paused worker never noticed it had lost its lease"
        time.sleep(0.2)
    # Anything it published went through Redis before it logged that: a sentinel published now arrives after it.
    fleet.redis.client().publish(keys.reply_channel("sentinel"), encode_event("sentinel", "end"))
    poll(lambda: any(e.get("id") == "sentinel" for e in events), "the sentinel event never arrived")
    result["done"] = True
    listener.join(10)
    mine = [e for e in events if e.get("id") == request_id]
    assert [e["type"] for e in mine] == ["result"], f"expected the new owner's answer alone, got {mine}"
    assert len(audit_records(fleet, request_id)) == 1, "the request was billed more than once"
    wait_no_job_left(fleet)
