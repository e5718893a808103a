"""Celery used honestly: a worker started as Celery starts one (`celery -A workers.celery_app worker -Q tier1 -c 50
-E`) consumes only the queues it was given with the concurrency it was given, `celery inspect active` lists the
jobs it runs by request id, its task events say when each job was received, started and succeeded, and a pool
that would take jobs without a lease is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from celery import Celery

from common import keys
from tests.harness import ROOT, Gateway, RedisProcess, poll, stop_process

pytestmark = pytest.mark.integration

ORG = {"organization_id": "org_123"}


def celery(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.celery_app", *args], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


class BareCeleryTier1(Gateway):
    """A gateway whose tier-1 worker is started as Celery starts one, not through `tiergate worker`."""

    def start_worker(self, tiers: str, concurrency: int, name: str) -> subprocess.Popen[bytes]:
        if tiers != "tier1":
            return super().start_worker(tiers, concurrency, name)
        self.processes["celery"] = celery("worker", "-Q", "tier1", "-c", str(concurrency), "-E", "-l", "warning",
                                          "-n", "bare@%h", env=self.env, log=self.log)
        return self.processes["celery"]


@pytest.fixture(scope="module")
def fleet(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """tier2-4 served by a `tiergate worker`; tier1 by a bare Celery worker, as an operator might run one."""
    running = BareCeleryTier1(Path(tmp_path_factory.mktemp("celery")), own_redis,
                              worker_specs=[("tier1", 50), ("tier2,tier3,tier4", 4)])
    yield running.start()
    running.stop()


def workers_of(gateway: Gateway) -> dict[str, dict[str, Any]]:
    client = gateway.redis.client()
    found = {}
    for tier in ("tier1", "tier2", "tier3", "tier4"):
        for member in client.zrange(keys.worker_heartbeat(tier), 0, -1):
            info = orjson.loads(client.get(keys.worker_info(member.decode())))
            found[info["id"]] = info
    return found


def bare_worker(gateway: Gateway) -> dict[str, Any]:
    pid = gateway.processes["celery"].pid
    return next(info for info in workers_of(gateway).values() if info["pid"] == pid)


def ask_slowly(gateway: Gateway, result: dict[str, Any], seconds: float = 2.5, tier: str = "tier1") -> threading.Thread:
    body = {"model": tier, "metadata": ORG,
            "messages": [{"role": "user", "content": f"[sim ttft_ms={int(seconds * 1000)} tokens=4] oi"}]}

    def ask() -> None:
        result["response"] = httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(),
                                        timeout=60)

    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def running_job(gateway: Gateway, tier: str, seconds: float = 15) -> str:
    held = poll(lambda: gateway.redis.client().hkeys(keys.inflight(tier)), f"no job in flight on {tier}", seconds)
    return held[0].decode()


def test_a_celery_worker_takes_its_tiers_from_dash_q_and_its_concurrency_from_dash_c(fleet: Gateway) -> None:
    info = bare_worker(fleet)
    assert info["tiers"] == ["tier1"]
    assert info["concurrency"] == 50
    advertised = {tier for tier in ("tier1", "tier2", "tier3", "tier4")
                  if str(info["id"]).encode() in fleet.redis.client().zrange(keys.worker_heartbeat(tier), 0, -1)}
    assert advertised == {"tier1"}
    other = next(i for i in workers_of(fleet).values() if i["pid"] != info["pid"])
    assert (other["tiers"], other["concurrency"]) == (["tier2", "tier3", "tier4"], 4)


def test_celery_inspect_active_lists_the_running_jobs_by_request_id(fleet: Gateway) -> None:
    result: dict[str, Any] = {}
    thread = ask_slowly(fleet, result, seconds=8)  # long enough for `celery inspect` to start and ask
    job_id = running_job(fleet, "tier1")
    inspected = subprocess.run([sys.executable, "-m", "celery", "-A", "workers.celery_app", "inspect", "active",
                                "--json", "--timeout", "5"], cwd=ROOT, env=fleet.env, capture_output=True, timeout=60)
    thread.join(60)
    assert inspected.returncode == 0, inspected.stderr.decode()[-2000:]
    replies = json.loads(inspected.stdout.decode().strip().splitlines()[-1])
    active = {node: [job["id"] for job in jobs] for node, jobs in replies.items()}
    bare = next(node for node in active if node.startswith("bare@"))
    assert job_id in active[bare], active
    job = next(j for j in replies[bare] if j["id"] == job_id)
    assert job["name"] == keys.COMPLETE_TASK and job["kwargs"]["tier"] == "tier1"
    assert "oi" not in json.dumps(job), "a prompt left the worker in an inspect reply"
    assert result["response"].status_code == 200, \
        f"expected 200, got {result['response'].status_code}: {result['response'].text[:500]}"
    assert result["response"].headers["x-request-id"] == job_id


def test_with_dash_e_each_job_sends_celerys_task_events_with_its_runtime_and_without_it_none(fleet: Gateway) -> None:
    events: list[dict[str, Any]] = []
    app = Celery("test-events", broker=fleet.redis.url)
    broker = fleet.redis.client()
    patterns_before = broker.pubsub_numpat()

    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": events.append})
        listener = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None, "wakeup": False},
                                    daemon=True)
        listener.start()
        # the events exchange is a fanout: the receiver hears only once its PSUBSCRIBE is in place
        poll(lambda: broker.pubsub_numpat() > patterns_before, "the event receiver never subscribed", seconds=5)
        quiet: dict[str, Any] = {}
        ask_slowly(fleet, quiet, seconds=0.1, tier="tier2").join(60)  # its worker was not given -E
        result: dict[str, Any] = {}
        ask_slowly(fleet, result, seconds=0.5).join(60)
        job_id = result["response"].headers["x-request-id"]
        poll(lambda: any(e["type"] == "task-succeeded" and e.get("uuid") == job_id for e in events),
             lambda: f"expected task-succeeded for {job_id}; events seen: {[e['type'] for e in events]}", interval=0.1)
        receiver.should_stop = True
    mine = {e["type"]: e for e in events if e.get("uuid") == job_id}
    assert {"task-received", "task-started", "task-succeeded"} <= set(mine), list(mine)
    assert mine["task-received"]["name"] == keys.COMPLETE_TASK
    assert mine["task-succeeded"]["runtime"] >= 0.5
    assert mine["task-received"]["hostname"].startswith("bare@")
    assert quiet["response"].status_code == 200, \
        f"expected 200, got {quiet['response'].status_code}: {quiet['response'].text[:500]}"
    assert not [e for e in events if e.get("uuid") == quiet["response"].headers["x-request-id"]], \
        "a worker without -E sent task events"


def test_a_worker_under_another_pool_refuses_to_start(fleet: Gateway, tmp_path: Path) -> None:
    log = tmp_path / "threads.log"
    process = celery("worker", "-Q", "tier1", "-P", "threads", "-l", "warning", env=fleet.env, log=log)
    try:
        assert process.wait(60) != 0
    finally:
        stop_process(process)
    assert "loop pool only" in log.read_text()
