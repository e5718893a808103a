"""Real processes for integration tests: a private redis-server, the simulator, Celery workers, the API.

Nothing here mocks tiergate: each part is the same command a user runs (`tiergate sim|worker|api`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis
import yaml

from cli.local_redis import answers, free_port, start_redis_server, wait_until_answers
from tests.databases import postgres_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "litellm_config.yaml"
MASTER_KEY = "sk-master-key"  # the development key of `tiergate up`, as the README uses

T = TypeVar("T")


def poll(condition: Callable[[], T], failure: str | Callable[[], str], seconds: float = 10,
         interval: float = 0.05) -> T:
    """Wait for `condition()` to return something truthy and return it; fail with `failure` (or what it
    returns, called at the deadline to show the last state) when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(failure() if callable(failure) else failure)
        time.sleep(interval)
    return value


def away_from_minute_boundary() -> None:
    """Rate windows are fixed minutes: wait for the next one rather than let a burst straddle two."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def apt_install(package: str) -> None:
    """Install a Debian package (CI runs as root), refreshing the package lists when they are stale."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL, env=env)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)


def ensure_redis_server() -> None:
    """Tests start their own redis-server; install Debian's package when it is missing."""
    if not shutil.which("redis-server"):
        apt_install("redis-server")


@dataclass
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    @classmethod
    def start(cls, port: int | None = None) -> RedisProcess:
        ensure_redis_server()
        port = port or free_port()
        process = start_redis_server(port)
        wait_until_answers(f"redis://127.0.0.1:{port}/0")
        return cls(port, process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def tiergate(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=env, stdout=handle,
                            stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_http(url: str, seconds: float = 30.0, expect: int = 200,
              processes: list[subprocess.Popen[bytes]] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        for process in processes or []:
            if process.poll() is not None:
                tail = log.read_text()[-3000:] if log and log.exists() else ""
                raise RuntimeError(f"{process.args} exited with {process.returncode} while starting:\n{tail}")
        try:
            response = httpx.get(url, timeout=1)
            if response.status_code == expect:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{url} not ready within {seconds}s (last: {last})\n{tail}")


def write_config(path: Path, sim_url: str, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> Path:
    """The default config (or `base`), pointed at this test's simulator, with `overrides` merged in (dicts
    deep-merged)."""
    config = copy.deepcopy(base) if base is not None else yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["simulator"] = {**config.get("simulator", {}), "url": sim_url, "mode": "always",
                           "ttft_ms": 0, "token_delay_ms": 0}
    _merge(config, overrides or {})
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


@dataclass
class Gateway:
    """A running tiergate: simulator, worker processes and API processes on one private Redis."""

    workdir: Path
    redis: RedisProcess
    config_overrides: dict[str, Any] | None = None
    base_config: dict[str, Any] | None = None  # instead of the bundled config (e.g. a plain LiteLLM one)
    sim_args: list[str] = field(default_factory=list)
    worker_specs: list[tuple[str, int]] = field(default_factory=lambda: [("tier1,tier2,tier3,tier4", 50)])
    api_processes: int = 1
    api_port: int = 0
    sim_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: the records' database; empty: a PostgreSQL database of this gateway's own, dropped when it stops
    database_url: str = ""
    _owned: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ai_url(self) -> str:
        return f"{self.base_url}/ai"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def log(self) -> Path:
        return self.workdir / "gateway.log"

    def start(self) -> Gateway:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_port = self.api_port or free_port()
        self.sim_port = self.sim_port or free_port()
        config = write_config(self.workdir / "config.yaml", self.sim_url, self.config_overrides, self.base_config)
        metrics_dir = self.workdir / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        self.database_url = self.database_url or self._owned.enter_context(postgres_database())
        self.env = {**os.environ, "REDIS_URL": self.redis.url, "LITELLM_MASTER_KEY": MASTER_KEY,
                    "DATABASE_URL": self.database_url,
                    "TIERGATE_CONFIG": str(config), "PYTHONUNBUFFERED": "1",
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "TOGETHER_API_KEY", "GROQ_API_KEY"):
            self.env.pop(name, None)
        self.processes["sim"] = tiergate("sim", "--port", str(self.sim_port), *self.sim_args, env=self.env,
                                         log=self.log)
        wait_http(f"{self.sim_url}/health", processes=[self.processes["sim"]], log=self.log)
        for index, (tiers, concurrency) in enumerate(self.worker_specs):
            self.start_worker(tiers, concurrency, name=f"worker{index}")
        self.processes["api"] = tiergate("api", "--host", "127.0.0.1", "--port", str(self.api_port),
                                         "--workers", str(self.api_processes), env=self.env, log=self.log)
        wait_http(f"{self.base_url}/health/readiness", seconds=60, processes=list(self.processes.values()),
                  log=self.log)
        return self

    def start_worker(self, tiers: str, concurrency: int, name: str) -> subprocess.Popen[bytes]:
        process = tiergate("worker", "--tiers", tiers, "--concurrency", str(concurrency), "--loglevel", "warning",
                           env=self.env, log=self.log)
        self.processes[name] = process
        return process

    def stop(self) -> None:
        for name in sorted(self.processes, key=lambda n: n != "api"):  # API first
            stop_process(self.processes[name])
        self._owned.close()

    def wait_recorded(self, request_ids: list[str] | None = None, seconds: float = 30.0) -> None:
        """Wait until the database has every record so far: the named requests counted (a worker sets the marker
        with the ledger entry, after the answer), no job in flight (a job's record is written as it leaves), and
        the ledger stream drained (entries are deleted once committed); twice in a row, 50 ms apart."""
        from common import keys
        from config import TIER_NAMES

        client = self.redis.client()
        deadline = time.monotonic() + seconds
        settled = 0
        try:
            while settled < 2:
                counted = all(client.exists(keys.usage_recorded(rid)) for rid in request_ids or [])
                running = sum(client.hlen(keys.inflight(tier)) for tier in TIER_NAMES)
                undrained = client.xlen(keys.LEDGER_STREAM)
                settled = settled + 1 if counted and not running and not undrained else 0
                if time.monotonic() > deadline:
                    raise AssertionError(f"records not in the database after {seconds}s: {undrained} undrained, "
                                         f"{running} jobs in flight, named requests counted: {counted}")
                time.sleep(0.05)
        finally:
            client.close()

    def usage(self, **params: str) -> dict[str, Any]:
        """GET /ai/usage as the master key sees it (`organization_id=` for one organization)."""
        response = httpx.get(f"{self.ai_url}/usage", params=params, headers=self.headers(), timeout=10)
        assert response.status_code == 200, f"expected 200 from /ai/usage, got {response.status_code}: {response.text}"
        return response.json()

    def organization(self, organization_id: str) -> dict[str, Any]:
        """One organization as GET /ai/admin/organizations shows it: plan, effective limits, spend, reservations."""
        response = httpx.get(f"{self.ai_url}/admin/organizations", headers=self.headers(), timeout=10)
        assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.text}"
        listed = [o for o in response.json()["data"] if o["organization_id"] == organization_id]
        assert listed, f"{organization_id} is not among the organizations listed"
        return listed[0]

    def headers(self, key: str = MASTER_KEY) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def sim_stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.sim_url}/sim/stats", timeout=5).json()

    def reset_sim(self) -> None:
        httpx.post(f"{self.sim_url}/sim/reset", timeout=5)

    def audit_records(self, **filters: str) -> list[dict[str, Any]]:
        """The audit trail as GET /ai/admin/audit pages it (newest first), every page; records reach it once the
        ledger writer has drained them (wait_recorded)."""
        records: list[dict[str, Any]] = []
        params: dict[str, Any] = {**filters, "limit": 10_000}
        while True:
            page = httpx.get(f"{self.ai_url}/admin/audit", params=params, headers=self.headers(), timeout=30)
            page.raise_for_status()
            records += page.json()["data"]
            if not page.json()["next"]:
                return records
            params["cursor"] = page.json()["next"]

    def sim_connections(self) -> int:
        """Established TCP connections accepted by the simulator's port (from /proc/net/tcp)."""
        port = f"{self.sim_port:04X}"
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port}") and fields[3] == "01":  # local address, state ESTABLISHED
                count += 1
        return count


def redis_is_up(url: str) -> bool:
    return answers(url)
