"""GET /ai/dashboard in a real headless Chromium: per tier latency, TTFT, queue wait, throughput and errors as
small charts, the workers' real per-tier load, each organization's spend against its budget, and recent errors
that open their audit record. A screenshot is kept in artifacts/dashboard.png (CI keeps it)."""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, Gateway, RedisProcess, apt_install, poll

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def gw(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # One worker serves three tiers (its load must be shown per tier), another tier4.
    specs = [("tier1,tier2,tier3", 8), ("tier4", 2)]
    running = Gateway(Path(tmp_path_factory.mktemp("dashboard")), own_redis, worker_specs=specs).start()
    yield running
    running.stop()


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
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def rendered(url: str, profile: Path) -> str:
    result = headless(url, profile, "--dump-dom")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    page = result.stdout.decode()
    assert 'data-loaded="true"' in page, f"the page did not load its data:\n{page[:3000]}"
    return page


def data(gw: Gateway) -> dict[str, Any]:
    response = httpx.get(f"{gw.ai_url}/dashboard/data", headers=gw.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def chat(gw: Gateway, text: str, model: str = "auto", stream: bool = False) -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}],
            "metadata": {"organization_id": "org_123"}}
    return httpx.post(f"{gw.ai_url}/chat/completions", headers=gw.headers(), json=body, timeout=60)


def cell(page: str, row: str, field: str) -> str:
    """The text of `<td data-field=field>` in the row whose opening tag holds `row`."""
    found = re.search(rf'<tr[^>]*{re.escape(row)}[^>]*>(.*?)</tr>', page, re.S)
    assert found, f"no row {row} in the page"
    value = re.search(rf'<td[^>]*data-field="{field}"[^>]*>(.*?)</td>', found.group(1), re.S)
    assert value, f"no {field} in row {row}: {found.group(1)[:500]}"
    return html_lib.unescape(re.sub(r"<[^>]+>", "", value.group(1))).strip()


def test_the_dashboard_shows_what_an_operator_needs_in_chromium(gw: Gateway, tmp_path: Path) -> None:
    for _ in range(3):
        assert chat(gw, "Olá! [sim ttft_ms=30]", model="tier1").status_code == 200
        assert chat(gw, "Olá! [sim ttft_ms=30]", model="tier1", stream=True).status_code == 200
    failed = chat(gw, "Quero um desconto [sim fail=500]", model="tier2")
    assert failed.status_code >= 500, failed.text
    failed_id = failed.headers["x-request-id"]
    # A long tier3 answer holds a slot of the three-tier worker while the page is drawn.
    holder = threading.Thread(target=chat, args=(gw, "Explique a integração [sim token_delay_ms=500 tokens=60]",
                                                 "tier3", True), daemon=True)
    holder.start()

    snapshot = poll(lambda: (
        (d := data(gw))["tiers"]["tier1"]["recent"]["ttft_p95_ms"] is not None
        and d["tiers"]["tier3"]["in_flight"] == 1
        and d["tiers"]["tier2"]["recent"]["error_rate"] == 1.0  # each process flushes its figures every ~2 s
        and any(e["request_id"] == failed_id for e in d["recent_errors"]) and d),
        "never saw tier1's figures, the held tier3 job, tier2's failure and its audit record", seconds=20, interval=0.2)
    three_tier = next(w for w in snapshot["tiers"]["tier3"]["workers"] if "tier1" in w["tiers"])
    assert three_tier["active_on_tier"] == 1
    assert next(w for w in snapshot["tiers"]["tier1"]["workers"] if w["id"] == three_tier["id"])["active_on_tier"] == 0

    key = gw.headers()["authorization"].split()[1]
    page = rendered(f"{gw.ai_url}/dashboard#key={key}", tmp_path / "profile-dom")

    # Per tier: latency, TTFT and queue wait percentiles, throughput, error rate, and a chart each.
    tier1 = snapshot["tiers"]["tier1"]["recent"]
    assert re.fullmatch(r"\d+ ms / \d+ ms", cell(page, 'data-tier="tier1"', "latency"))
    assert re.fullmatch(r"\d+ ms / \d+ ms", cell(page, 'data-tier="tier1"', "ttft"))
    assert re.fullmatch(r"\d+ ms / \d+ ms", cell(page, 'data-tier="tier1"', "queue_wait"))
    assert tier1["requests"] >= 6 and tier1["latency_p95_ms"] >= tier1["latency_p50_ms"]
    assert cell(page, 'data-tier="tier2"', "error_rate") == "100%"
    assert cell(page, 'data-tier="tier1"', "error_rate") == "0%"
    charts = re.findall(r'<div class="chart" data-tier="(tier\d)">.*?</svg>', page, re.S)
    assert charts == ["tier1", "tier2", "tier3", "tier4"], charts
    tier1_chart = re.search(r'<div class="chart" data-tier="tier1">(.*?)</svg>', page, re.S).group(1)  # type: ignore
    assert "<rect" in tier1_chart and "<polyline" in tier1_chart, "tier1's chart has no bars or no line"

    # Workers: the three-tier worker's running job counts on tier3 only.
    load = cell(page, f'data-worker="{three_tier["id"]}"', "load")
    assert load == "tier1: 0 · tier2: 0 · tier3: 1", load

    # Organizations: spend this month against the plan's budget (enterprise: $10,000).
    assert cell(page, 'data-organization="org_123"', "budget") == "$10000.00"
    assert cell(page, 'data-organization="org_123"', "spent").startswith("$0.0")
    assert cell(page, 'data-organization="org_123"', "spent") != "$0.000000"

    # Recent errors, each linking to its audit record, which the page then shows.
    assert f'href="#audit={failed_id}"' in page
    assert cell(page, f'data-request-id="{failed_id}"', "status") == str(failed.status_code)
    audit = rendered(f"{gw.ai_url}/dashboard#key={key}&audit={failed_id}", tmp_path / "profile-audit")
    box = re.search(r'<div id="audit">(.*?)</div>', audit, re.S)
    assert box and f'"request_id": "{failed_id}"' in html_lib.unescape(box.group(1)), audit[-3000:]
    assert f'"status": {failed.status_code}' in html_lib.unescape(box.group(1))

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    result = headless(f"{gw.ai_url}/dashboard#key={key}", tmp_path / "profile-shot", f"--screenshot={shot}",
                      "--window-size=1400,1500", "--hide-scrollbars")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000, f"screenshot of {len(png)} bytes"
    holder.join(60)


def test_the_dashboard_data_needs_the_master_key(gw: Gateway) -> None:
    assert httpx.get(f"{gw.ai_url}/dashboard/data", timeout=10).status_code == 401
    page = httpx.get(f"{gw.ai_url}/dashboard", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), \
        f"got {page.status_code}: {page.text[:500]}"
    assert "<script src" not in page.text and "https://" not in page.text, "the page must work with no network"
