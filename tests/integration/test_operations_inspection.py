"""GET /ai/queues and /ai/dashboard: what an operator sees of the tier queues, checked against real workers,
and the dashboard rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Gateway, RedisProcess, apt_install

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ops(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # tier4 has one worker with one slot, so a second tier-4 job has to wait in the queue.
    specs = [("tier1,tier2,tier3", 4), ("tier4", 1)]
    running = Gateway(Path(tmp_path_factory.mktemp("ops")), own_redis, worker_specs=specs).start()
    yield running
    running.stop()


def queues(gateway: Gateway) -> dict[str, Any]:
    response = httpx.get(f"{gateway.ai_url}/queues", headers=gateway.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate: Callable[[dict[str, Any]], bool], gateway: Gateway, seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    snapshot = queues(gateway)
    while not predicate(snapshot):
        assert time.monotonic() < deadline, f"/ai/queues never showed what was expected; last:\n{snapshot}"
        time.sleep(0.2)
        snapshot = queues(gateway)
    return snapshot


def ask_in_background(gateway: Gateway, tier: str, text: str) -> threading.Thread:
    body = {"model": tier, "messages": [{"role": "user", "content": text}],
            "metadata": {"organization_id": "org_123"}}  # enterprise plan: every tier

    def ask() -> None:
        httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(), timeout=60)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def test_queues_needs_the_master_key(ops: Gateway) -> None:
    assert httpx.get(f"{ops.ai_url}/queues", timeout=10).status_code == 401
    assert httpx.get(f"{ops.ai_url}/queues", headers=ops.headers("sk-wrong"), timeout=10).status_code == 401


def test_queues_lists_every_tier_with_the_workers_consuming_it(ops: Gateway) -> None:
    snapshot = wait_for(lambda s: all(s["tiers"][t]["live_workers"] for t in s["tiers"]), ops)
    assert set(snapshot["tiers"]) == {"tier1", "tier2", "tier3", "tier4"}
    tier4 = snapshot["tiers"]["tier4"]
    assert [w["pid"] for w in tier4["workers"]] == [ops.processes["worker1"].pid]
    assert tier4["workers"][0]["concurrency"] == 1 and tier4["workers"][0]["tiers"] == ["tier4"]
    assert tier4["workers"][0]["host"]
    assert [w["pid"] for w in snapshot["tiers"]["tier1"]["workers"]] == [ops.processes["worker0"].pid]
    assert tier4["backlog_limit"] == 200, "the backlog limit is the configured one"


def test_a_running_job_shows_in_flight_and_on_its_worker_then_counts_as_completed(ops: Gateway) -> None:
    before = queues(ops)["tiers"]["tier3"]["ok_last_minute"]
    thread = ask_in_background(ops, "tier3", "[sim ttft_ms=2500] explain the integration")
    # the worker's own figures come with its heartbeat, every 2 s
    running = wait_for(lambda s: s["tiers"]["tier3"]["in_flight"] == 1
                       and s["tiers"]["tier3"]["workers"][0]["active"] == 1, ops)
    assert running["tiers"]["tier3"]["oldest_in_flight_seconds"] >= 0
    thread.join(30)
    done = wait_for(lambda s: s["tiers"]["tier3"]["in_flight"] == 0, ops)
    assert done["tiers"]["tier3"]["ok_last_minute"] == before + 1
    assert done["requests_last_minute_by_organization"].get("org_123", 0) >= 1


def test_a_job_waiting_behind_a_busy_worker_shows_as_queue_depth_with_its_age(ops: Gateway) -> None:
    threads = [ask_in_background(ops, "tier4", "[sim ttft_ms=4000] negotiate") for _ in range(3)]
    snapshot = wait_for(lambda s: s["tiers"]["tier4"]["depth"] >= 1, ops)
    time.sleep(1.0)
    later = queues(ops)["tiers"]["tier4"]
    assert later["depth"] >= 1, f"the third job should still wait: {later}"
    assert later["oldest_wait_seconds"] >= 1.0, f"the waiting job's age is not growing: {later}"
    assert snapshot["tiers"]["tier1"]["depth"] == 0, "other tiers' queues are untouched"
    for thread in threads:
        thread.join(60)


# --- the dashboard, in a real browser -------------------------------------------------------------------


def chromium() -> str:
    """Debian's chromium, installed when missing (CI runs as root with apt)."""
    found = shutil.which("chromium")
    if found:
        return found
    apt_install("chromium")
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


def headless(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--virtual-time-budget=6000", *extra, url]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def test_the_dashboard_renders_every_tier_and_the_organizations_in_chromium(ops: Gateway, tmp_path: Path) -> None:
    httpx.post(f"{ops.ai_url}/chat/completions", headers=ops.headers(), timeout=30,
               json={"messages": [{"role": "user", "content": "Olá!"}], "metadata": {"organization_id": "org_123"}})
    url = f"{ops.ai_url}/dashboard#key={ops.headers()['authorization'].split()[1]}"
    dom = headless(url, tmp_path / "profile-dom", "--dump-dom")
    html = dom.stdout.decode()
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    for tier in ("tier1", "tier2", "tier3", "tier4"):
        assert f'id="tier-row-{tier}"' in html, f"no row for {tier} in the rendered page:\n{html[:3000]}"
    status = re.search(r'<div id="status"[^>]*>([^<]*)</div>', html)
    assert status and status.group(1).startswith("updated "), f"the page did not load its data: {status}"
    assert 'id="org-row-org_123"' in html, f"the organization that just asked is not listed:\n{html[-3000:]}"

    shot = tmp_path / "dashboard.png"
    result = headless(url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,900")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000, f"screenshot of {len(png)} bytes"


def test_the_dashboard_page_is_html_that_polls_the_queues(ops: Gateway) -> None:
    response = httpx.get(f"{ops.ai_url}/dashboard", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/queues" in response.text and "/usage" in response.text
