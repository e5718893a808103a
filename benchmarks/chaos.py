"""Chaos: a mixed load of sync and streaming requests against a gateway whose tier-2 workers are SIGKILLed every few
seconds (each restarted at once, so two stay alive) and whose Redis is restarted once. Then it checks the delivery
promise and prints the figures:

- every request ended (an answer or an error) before its deadline;
- billed requests == their audit records == answers + cut streams (each billed once), and nothing else is billed;
- no job ran on two workers at once (its lease records: a job seen under a second worker only after the first
  was killed).

    .venv/bin/python -m benchmarks.chaos [--seconds 60] [--clients 16] [--kill-every 4] [--redis-restart-at 25]

Exit status 1 when a check fails. tests/integration/test_chaos.py runs a shorter variant in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from cli.local_redis import free_port, wait_until_answers
from common import keys
from common.inflight import InflightRecord
from tests.harness import MASTER_KEY, Gateway, RedisProcess

TIER = "tier2"
#: Each request: 150 ms to the first token, 20 tokens 20 ms apart (~0.55 s), a deadline of DEADLINE seconds.
PROMPT = "[sim ttft_ms=150 tokens=20 token_delay_ms=20] explica o plano {n}"
DEADLINE = 12.0
#: What "before its deadline" allows for the client's own side on a loaded 2-core machine.
SLACK_SECONDS = 1.0
WORKER_SLOTS = 20


@dataclass
class Outcome:
    """One request as its client saw it."""

    n: int
    stream: bool
    started: float
    ended: float = 0.0
    status: int = 0
    request_id: str = ""
    kind: str = "error"  # "answer", "cut" (a stream that relayed chunks, then an error), "error", "hung"
    code: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Chaos:
    """The faults injected and what the lease records showed while they happened."""

    killed: dict[str, float] = field(default_factory=dict)  # worker id -> when it was SIGKILLed
    redis_restarted_at: float | None = None
    holders: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # job -> [(worker, first seen)]
    error: str | None = None  # the injector's own failure: the faults stopped, so the run proves nothing


@dataclass
class Report:
    requests: int
    ended_in_time: int
    answers: int
    cut: int
    errors: Counter[str]
    billed: int
    billed_records: int
    unbilled_delivered: list[str]
    billed_undelivered: list[str]
    duplicate_records: list[str]
    overlapping_jobs: list[str]
    rerun_jobs: int
    kills: int
    redis_restarted: bool
    slowest: float
    details: list[str] = field(default_factory=list)  # what the client and the audit trail say of each failure
    injector_error: str | None = None

    @property
    def failures(self) -> list[str]:
        found = [f"the fault injector failed: {self.injector_error}"] if self.injector_error else []
        if self.ended_in_time != self.requests:
            found.append(f"{self.requests - self.ended_in_time} requests did not end before their deadline")
        if not (self.billed == self.billed_records == self.answers + self.cut):
            found.append(f"billed {self.billed}, audit records of billed requests {self.billed_records}, "
                         f"answers + cut streams {self.answers + self.cut}")
        if self.unbilled_delivered:
            found.append(f"delivered but not billed: {self.unbilled_delivered[:5]}")
        if self.billed_undelivered:
            found.append(f"billed but not delivered: {self.billed_undelivered[:5]}")
        if self.duplicate_records:
            found.append(f"more than one audit record: {self.duplicate_records[:5]}")
        if self.overlapping_jobs:
            found.append(f"jobs held by two live workers at once: {self.overlapping_jobs[:5]}")
        return found

    def print(self) -> None:
        errors = ", ".join(f"{code} {count}" for code, count in self.errors.most_common()) or "none"
        print(f"""
chaos: {self.kills} worker SIGKILLs, Redis restarted: {'yes' if self.redis_restarted else 'no'}
  requests                         {self.requests}
  ended before their deadline      {self.ended_in_time}   (slowest {self.slowest:.2f} s)
  answers                          {self.answers}
  cut streams                      {self.cut}
  errors                           {sum(self.errors.values())}   ({errors})
  billed (cost > 0)                {self.billed}
  audit records of those           {self.billed_records}
  answers + cut streams            {self.answers + self.cut}
  requests with 2+ audit records   {len(self.duplicate_records)}
  jobs re-run on another worker    {self.rerun_jobs}
  jobs on two live workers at once {len(self.overlapping_jobs)}
""")
        for failure in self.failures:
            print(f"FAILED: {failure}")
        for line in self.details if self.failures else []:
            print(f"  {line}")
        if not self.failures:
            print("all checks passed")


def start_persistent_redis(workdir: Path, port: int | None = None) -> RedisProcess:
    """A redis-server with an append-only file (as deploy/ runs it), so a restart keeps the queues and records."""
    port = port or free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                "--appendfsync", "always", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_answers(f"redis://127.0.0.1:{port}/0")
    return RedisProcess(port, process)


async def one_request(client: httpx.AsyncClient, n: int, stream: bool, user: str) -> Outcome:
    outcome = Outcome(n, stream, time.monotonic())
    body = {"model": TIER, "messages": [{"role": "user", "content": PROMPT.format(n=n)}], "stream": stream,
            "metadata": {"organization_id": "org_123", "user_id": user}}
    try:
        async with client.stream("POST", "/chat/completions", json=body,
                                 headers={"x-gateway-timeout": str(DEADLINE)}) as response:
            outcome.status = response.status_code
            outcome.request_id = response.headers.get("x-request-id", "")
            if response.status_code != 200:
                outcome.code = _error_code(await response.aread())
            elif stream:
                await _read_stream(response, outcome)
            else:
                await response.aread()
                outcome.kind = "answer"
    except httpx.TimeoutException:
        outcome.kind, outcome.code = "hung", "client_timeout"
    except httpx.HTTPError as exc:
        outcome.code = f"connection: {type(exc).__name__}"
    outcome.ended = time.monotonic()
    return outcome


async def _read_stream(response: httpx.Response, outcome: Outcome) -> None:
    chunks, finished, done = 0, False, False
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            break
        event = orjson.loads(line[6:])
        if "error" in event:
            outcome.code = event["error"].get("code")
            outcome.kind = "cut" if chunks else "error"
            return
        choices = event.get("choices") or []
        if choices and (choices[0].get("delta") or {}).get("content"):
            chunks += 1
        finished = finished or any(choice.get("finish_reason") for choice in choices)
    if finished and done:
        outcome.kind = "answer"
    else:
        outcome.kind, outcome.code = ("cut" if chunks else "error"), "stream_ended_early"


def _error_code(raw: bytes) -> str:
    try:
        return str(orjson.loads(raw)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unreadable"


async def drive(base_url: str, seconds: float, clients: int, user: str) -> list[Outcome]:
    """`clients` loops, each sending one request after another (even loops streams, odd sync) for `seconds`."""
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {MASTER_KEY}"},
                                 timeout=DEADLINE + 10, limits=limits) as client:
        stop_at = time.monotonic() + seconds
        counter = iter(range(10**9))

        async def loop(stream: bool) -> list[Outcome]:
            done = []
            while time.monotonic() < stop_at:
                done.append(await one_request(client, next(counter), stream, user))
                if done[-1].status == 503:  # the API said come back later: a real client backs off
                    await asyncio.sleep(0.2)
            return done

        results = await asyncio.gather(*(loop(index % 2 == 0) for index in range(clients)))
    return [outcome for per_client in results for outcome in per_client]


def inject(gateway: Gateway, chaos: Chaos, seconds: float, kill_every: float, redis_restart_at: float | None,
           workdir: Path, stop: threading.Event) -> None:
    """Kill a tier-2 worker every `kill_every` seconds (restarting it at once), restart Redis once; watch leases."""
    try:
        _inject(gateway, chaos, seconds, kill_every, redis_restart_at, workdir, stop)
    except Exception as exc:
        chaos.error = repr(exc)


def _inject(gateway: Gateway, chaos: Chaos, seconds: float, kill_every: float, redis_restart_at: float | None,
            workdir: Path, stop: threading.Event) -> None:
    started = time.monotonic()
    next_kill = started + kill_every
    turn = 0
    while not stop.is_set() and time.monotonic() - started < seconds:
        _watch_leases(gateway, chaos)
        now = time.monotonic()
        if redis_restart_at is not None and chaos.redis_restarted_at is None and now - started >= redis_restart_at:
            _restart_redis(gateway, workdir)
            chaos.redis_restarted_at = time.monotonic()
        if now >= next_kill:
            name = f"worker{1 + turn % 2}"
            process = gateway.processes[name]
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            chaos.killed[f"{socket.gethostname()}:{process.pid}"] = time.monotonic()  # the worker's id
            gateway.start_worker(TIER, WORKER_SLOTS, name=name)
            turn += 1
            next_kill = now + kill_every
        time.sleep(0.05)


def _watch_leases(gateway: Gateway, chaos: Chaos) -> None:
    try:
        held = gateway.redis.client().hgetall(keys.inflight(TIER))
    except Exception:  # Redis restarting
        return
    now = time.monotonic()
    for job_id, raw in held.items():
        worker = InflightRecord.parse(raw).worker
        seen = chaos.holders.setdefault(job_id.decode(), [])
        if not seen or seen[-1][0] != worker:
            seen.append((worker, now))


def _restart_redis(gateway: Gateway, workdir: Path) -> None:
    """SIGKILL Redis (a crash; the append-only file has every write) and start it again on the same port."""
    port = gateway.redis.port
    gateway.redis.process.kill()
    gateway.redis.process.wait(10)
    time.sleep(1.0)  # an outage clients notice
    gateway.redis = start_persistent_redis(workdir, port)


def overlapping(chaos: Chaos) -> tuple[list[str], int]:
    """Jobs seen under a second worker while the first was still alive (not yet killed); jobs re-run at all."""
    overlaps, reruns = [], 0
    for job_id, seen in chaos.holders.items():
        for (before, _), (_, taken_at) in itertools.pairwise(seen):
            reruns += 1
            killed_at = chaos.killed.get(before)
            if killed_at is None or killed_at > taken_at:
                overlaps.append(job_id)
    return overlaps, reruns


def report(outcomes: list[Outcome], records: list[dict[str, Any]], chaos: Chaos) -> Report:
    by_request: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_request.setdefault(record["request_id"], []).append(record)
    delivered = {o.request_id for o in outcomes if o.kind in ("answer", "cut")}
    billed = {rid for rid, rs in by_request.items() if any(r.get("cost_usd", 0) > 0 for r in rs)}
    overlaps, reruns = overlapping(chaos)
    suspects = (delivered ^ billed) | {rid for rid, rs in by_request.items() if len(rs) > 1}
    details = [f"{o.request_id}: {'stream' if o.stream else 'sync'} {o.kind} {o.status} {o.code} after "
               f"{o.seconds:.2f}s; audit (status, cost): "
               f"{[(r.get('status'), r.get('cost_usd')) for r in by_request.get(o.request_id, [])]}"
               for o in outcomes if o.request_id in suspects]
    return Report(
        requests=len(outcomes),
        ended_in_time=sum(1 for o in outcomes if o.kind != "hung" and o.seconds <= DEADLINE + SLACK_SECONDS),
        answers=sum(1 for o in outcomes if o.kind == "answer"),
        cut=sum(1 for o in outcomes if o.kind == "cut"),
        errors=Counter(f"{o.status} {o.code}" for o in outcomes if o.kind in ("error", "hung")),
        billed=len(billed),
        billed_records=sum(len(by_request[rid]) for rid in billed),
        unbilled_delivered=sorted(delivered - billed),
        billed_undelivered=sorted(billed - delivered),
        duplicate_records=sorted(rid for rid, rs in by_request.items() if len(rs) > 1),
        overlapping_jobs=overlaps, rerun_jobs=reruns, kills=len(chaos.killed),
        redis_restarted=chaos.redis_restarted_at is not None,
        slowest=max((o.seconds for o in outcomes), default=0.0), details=details, injector_error=chaos.error)


def run(seconds: float = 60, clients: int = 16, kill_every: float = 4.0, redis_restart_at: float | None = 25.0,
        workdir: Path | None = None) -> Report:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tiergate-chaos-"))
    (workdir / "redis").mkdir(parents=True, exist_ok=True)
    redis = start_persistent_redis(workdir / "redis")
    # Two tier-2 workers under fire (worker1, worker2), one quiet worker so that every tier is ready.
    gateway = Gateway(workdir, redis, worker_specs=[("tier1,tier3,tier4", 4), (TIER, WORKER_SLOTS),
                                                    (TIER, WORKER_SLOTS)])
    chaos = Chaos()
    try:
        gateway.start()
        _wait_workers(gateway, 2)
        user = uuid.uuid4().hex
        stop = threading.Event()
        injector = threading.Thread(target=inject, args=(gateway, chaos, seconds, kill_every, redis_restart_at,
                                                         workdir / "redis", stop))
        injector.start()
        try:
            outcomes = asyncio.run(drive(gateway.ai_url, seconds, clients, user))
        finally:
            stop.set()
            injector.join(30)
        gateway.wait_recorded(seconds=60)
        ours = {o.request_id for o in outcomes if o.request_id}
        records = [r for r in gateway.audit_records() if r.get("request_id") in ours]
        return report(outcomes, records, chaos)
    finally:
        gateway.stop()
        gateway.redis.stop()


def _wait_workers(gateway: Gateway, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while gateway.redis.client().zcard(keys.worker_heartbeat(TIER)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{TIER} never had {count} live workers")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="seconds of load")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, half streaming")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between worker SIGKILLs")
    parser.add_argument("--redis-restart-at", type=float, default=25.0, help="second of the run Redis restarts at")
    args = parser.parse_args()
    print(f"{args.seconds:g} s of load, {args.clients} clients (half streaming) on {TIER}, two workers; one is "
          f"SIGKILLed every {args.kill_every:g} s and restarted; Redis restarts at {args.redis_restart_at:g} s",
          flush=True)
    result = run(args.seconds, args.clients, args.kill_every, args.redis_restart_at)
    result.print()
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
