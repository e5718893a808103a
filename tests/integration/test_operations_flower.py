"""Flower, run as the Procfile and compose run it (`tiergate flower`), is behind basic auth and sees the four tier
queues and their depth."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from cli.local_redis import free_port
from tests.harness import ROOT, RedisProcess, stop_process

pytestmark = pytest.mark.integration

AUTH = ("ops", "flower-secret")


@pytest.fixture
def flower(own_redis: RedisProcess) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "REDIS_URL": own_redis.url, "FLOWER_BASIC_AUTH": ":".join(AUTH)}
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "flower", "--port", str(port), "--address",
                                "127.0.0.1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    yield f"http://127.0.0.1:{port}"
    stop_process(process)


def test_flower_lists_every_tier_queue_with_its_depth(flower: str, own_redis: RedisProcess) -> None:
    own_redis.client().lpush("tier3", b"waiting-1", b"waiting-2")
    deadline = time.monotonic() + 30
    page = ""
    while time.monotonic() < deadline:
        try:
            page = httpx.get(f"{flower}/broker", auth=AUTH, timeout=5).text
            if 'id="tier3"' in page:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    rows = dict(re.findall(r'<tr id="(tier\d)">\s*<td>tier\d</td>\s*<td[^>]*>(\d+)</td>', page))
    assert set(rows) == {"tier1", "tier2", "tier3", "tier4"}, page[-2000:]
    assert rows["tier3"] == "2" and rows["tier1"] == "0"


def test_flower_asks_for_its_password(flower: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            anonymous = httpx.get(f"{flower}/broker", timeout=5)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "Flower did not answer"
            time.sleep(0.3)
    assert anonymous.status_code == 401, f"expected 401, got {anonymous.status_code}: {anonymous.text[:500]}"
    assert httpx.get(f"{flower}/broker", auth=("ops", "wrong"), timeout=5).status_code == 401
    assert httpx.get(f"{flower}/broker", auth=AUTH, timeout=5).status_code == 200
