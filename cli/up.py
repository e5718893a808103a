"""`tiergate up`: Redis (found or started), the simulator when a model has no key, workers for every tier,
and the API — one command, Ctrl-C stops them all."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlparse

import httpx

from cli.db_commands import ready
from cli.local_redis import LocalRedis, find_or_start, free_port
from common.metrics_env import MULTIPROC_ENV
from common.redis_url import redis_url
from common.urls import redacted
from config import Settings, load_settings
from config.settings import CONFIG_WARNED_ENV

DEVELOPMENT_KEY = "sk-master-key"
DEFAULT_API_PORT = 4000


def run_up(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    # The ports the user did not pin are free ones, so two `up` on one machine never collide.
    api_port = choose_port(args.port, preferred=DEFAULT_API_PORT)
    pinned_sim = args.sim_port or urlparse(env.get("TIERGATE_SIMULATOR_URL", "")).port
    env["TIERGATE_SIMULATOR_URL"] = f"http://127.0.0.1:{choose_port(pinned_sim)}"
    settings = load_settings(environ=env)
    env[CONFIG_WARNED_ENV] = "1"  # the children load the same file: its warnings were shown once, here
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
    simulated = sorted(d.name for d in settings.deployments().values() if d.simulated)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if simulated:
            children.append(_spawn(["sim", "--port", str(urlparse(settings.simulator.url).port)], env))
        children.append(_spawn(["worker", "--tiers", "tier1,tier2,tier3,tier4", "--concurrency",
                                str(args.concurrency), "--loglevel", "warning", "--quiet", "--simulate-missing",
                                "--metrics-port", str(free_port())], env))
        request_lines = "--log-requests" if args.log_requests else "--no-log-requests"
        children.append(_spawn(["api", "--host", "127.0.0.1", "--port", str(api_port), "--quiet",
                                "--simulate-missing", request_lines, "--log-format", args.log_format], env))
        base = f"http://127.0.0.1:{api_port}"
        _wait_ready(base, children, lambda: stopping)
        _announce(base, master_key, local_redis, database, settings, simulated)
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


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(pinned: int | None, preferred: int | None = None) -> int:
    """The pinned port (it must be free), else `preferred` when free, else any free port."""
    if pinned:
        if not port_is_free(pinned):
            raise SystemExit(f"tiergate: port {pinned} is in use (leave it unset and up picks a free one)")
        return pinned
    if preferred and port_is_free(preferred):
        return preferred
    return free_port()


def _spawn(role: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Children ignore the terminal's Ctrl-C (own process group): `up` stops them in order. Their stdout is
    # Celery's and uvicorn's chatter (banners, "Warm shutdown"); what they log goes to stderr, which is kept.
    return subprocess.Popen([sys.executable, "-m", "cli.main", *role], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL)


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


def _announce(base: str, master_key: str, local_redis: LocalRedis, database: str, settings: Settings,
              simulated: list[str]) -> None:
    development = master_key == DEVELOPMENT_KEY
    note = "  (development key: set LITELLM_MASTER_KEY for your own)" if development else "  (LITELLM_MASTER_KEY)"
    bearer = master_key if development else "$LITELLM_MASTER_KEY"
    print(f"""
tiergate is up
  API:        {base}/ai   (OpenAI-compatible: base_url="{base}/ai")
  master key: {shown_key(master_key)}{note}
  Redis:      {redacted(local_redis.url)} ({local_redis.origin})
  records:    {redacted(database)}
{_providers(settings, simulated)}

  curl {base}/ai/chat/completions \\
    -H "Authorization: Bearer {bearer}" -H "Content-Type: application/json" \\
    -d '{{"messages": [{{"role": "user", "content": "Olá!"}}], "metadata": {{"organization_id": "org_123"}}}}'

Ctrl-C stops everything.
""", flush=True)


def _providers(settings: Settings, simulated: list[str]) -> str:
    deployments = settings.deployments()
    real = sorted({d.provider for d in deployments.values() if not d.simulated})
    lines = [f"  providers:  {', '.join(real) if real else 'none (no provider key set)'}"]
    if simulated:
        lines.append(f"  simulated:  {', '.join(simulated)}")
        lines.append(f"              by the simulator at {settings.simulator.url} (canned answers, not a model)")
    return "\n".join(lines)


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
