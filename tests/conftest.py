"""Session fixtures: one private Redis and one running gateway shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.harness import MASTER_KEY, Gateway, RedisProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisProcess]:
    """A Redis for one module's own gateway: its queues must not be shared with another gateway's workers."""
    server = RedisProcess.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # A short keep-alive interval so tests can see keep-alive comments without waiting 10 s.
    overrides = {"server": {"keepalive_seconds": 1.0}}
    running = Gateway(Path(tmp_path_factory.mktemp("gateway")), redis_server, config_overrides=overrides).start()
    yield running
    running.stop()


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.ai_url, api_key=MASTER_KEY, max_retries=0, timeout=30)
