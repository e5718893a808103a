"""`tiergate up`: Redis (found or started), the simulator when a model has no key, workers for every tier,
and the API — one command, Ctrl-C stops them all."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlparse

import httpx

from cli.db_commands import ready
from cli.local_redis import LocalRedis, find_or_start
from common.metrics_env import MULTIPROC_ENV
from common.redis_url import redacted, redis_url
from config import load_settings
from records.database import redacted as redacted_database

DEVELOPMENT_KEY = "sk-master-key"


def run_up(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.sim_port:
        env["TIERGATE_SIMULATOR_URL"] = f"http://127.0.0.1:{args.sim_port}"
    settings = load_settings(environ=env)
    # No DATABASE_URL: the records live in a SQLite file in --data-dir, migrated here (the children share it).
    env["DATABASE_URL"] = database = ready(args, migrate_embedded=True)
    local_redis = find_or_start(redis_url(env))
    env["REDIS_URL"] = local_redis.url
    # Every process writes its metrics here; the API's /metrics adds them up.
    env.setdefault(MULTIPROC_ENV, tempfile.mkdtemp(prefix="tiergate-metrics-"))
    master_key = settings.general_settings.master_key
    if not master_key:
        # A known development key, so the README's examples work as written; the API binds 127.0.0.1 only.
        master_key = env["LITELLM_MASTER_KEY"] = DEVELOPMENT_KEY
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if any(d.simulated for d in settings.deployments().values()):
            sim_port = urlparse(settings.simulator.url).port or 4010
            children.append(_spawn(["sim", "--port", str(sim_port)], env))
        children.append(_spawn(["worker", "--tiers", "tier1,tier2,tier3,tier4", "--concurrency",
                                str(args.concurrency), "--loglevel", "warning"], env))
        children.append(_spawn(["api", "--host", "127.0.0.1", "--port", str(args.port)], env))
        base = f"http://127.0.0.1:{args.port}"
        _wait_ready(base, children, lambda: stopping)
        _announce(base, master_key, local_redis, database, settings.simulator.url if len(children) == 3 else None)
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"tiergate: a child process exited ({child.args[3]}, code {child.returncode}); "
                          "stopping", file=sys.stderr)
                    return 1
            time.sleep(0.3)
        return 0
    except RuntimeError as exc:
        print(f"tiergate: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop_all(children, local_redis)


def _spawn(role: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Children ignore the terminal's Ctrl-C (own process group): `up` stops them in order.
    return subprocess.Popen([sys.executable, "-m", "cli.main", *role], env=env, start_new_session=True)


def _wait_ready(base: str, children: list[subprocess.Popen[bytes]], stopping: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stopping():  # type: ignore[operator]
            raise RuntimeError("interrupted while starting")
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a child process failed to start (see its output above)")
        try:
            if httpx.get(f"{base}/health/readiness", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the gateway was not ready within {seconds:.0f}s")


def shown_key(key: str) -> str:
    """An operator's key as it may be printed (logs keep what a terminal shows): `sk-…1234`."""
    if key == DEVELOPMENT_KEY:
        return key
    prefix = "sk-" if key.startswith("sk-") else ""
    return f"{prefix}…{key[-4:]}" if len(key) >= 12 else "…"


def _announce(base: str, master_key: str, local_redis: LocalRedis, database: str, simulator: str | None) -> None:
    development = master_key == DEVELOPMENT_KEY
    note = "  (development key: set LITELLM_MASTER_KEY for your own)" if development else "  (LITELLM_MASTER_KEY)"
    bearer = master_key if development else "$LITELLM_MASTER_KEY"
    provider = f"simulator at {simulator} (no provider key set)" if simulator else "configured providers"
    print(f"""
tiergate is up
  API:        {base}/ai   (OpenAI-compatible: base_url="{base}/ai")
  master key: {shown_key(master_key)}{note}
  Redis:      {redacted(local_redis.url)} ({local_redis.origin})
  records:    {redacted_database(database)}
  providers:  {provider}

  curl {base}/ai/chat/completions \\
    -H "Authorization: Bearer {bearer}" -H "Content-Type: application/json" \\
    -d '{{"messages": [{{"role": "user", "content": "Olá!"}}], "metadata": {{"organization_id": "org_123"}}}}'

Ctrl-C stops everything.
""", flush=True)


def _stop_all(children: list[subprocess.Popen[bytes]], local_redis: LocalRedis) -> None:
    for child in reversed(children):  # API first, so nothing new is accepted while workers finish
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in reversed(children):
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    local_redis.stop()
