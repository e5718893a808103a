"""Out of the box: `tiergate up` with its defaults (config, worker concurrency, backlog limits), 300 clients on an
upstream that answers in 1.5 s, sync then streaming. Prints req/s against the ideal (clients / 1.5 s), p50/p99
and errors by kind; the issue's target is 0 errors, >= 90% of the ideal, p99 <= 1.7 s.

    .venv/bin/python -m benchmarks.up_load [--clients 300] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.loadgen import run_wrk
from cli.local_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
SLOW = "[sim ttft_ms=1500 token_delay_ms=0 tokens=20] Olá, qual é o prazo de entrega?"


def start_up(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """`tiergate up` on its own Redis (a REDIS_URL that does not answer: up starts a redis-server child) and its
    own SQLite records; every other setting is the default."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "DATABASE_URL"}
    env.update(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", LITELLM_MASTER_KEY="sk-master-key",
               HOME=str(workdir))
    argv = ["up", "--port", str(port), "--sim-port", str(free_port()), "--data-dir", str(workdir)]
    process = subprocess.Popen([sys.executable, "-m", "cli.main", *argv], env=env, cwd=ROOT,
                               stdout=(workdir / "up.log").open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tiergate up exited: {(workdir / 'up.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("tiergate up was not ready within 120 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tiergate-up-load-"))
    port = free_port()
    process = start_up(workdir, port)
    ideal = args.clients / 1.5
    try:
        print(f"tiergate up (defaults), {args.clients} clients, 1.5 s upstream, {args.seconds:g} s per mode; "
              f"ideal {ideal:.0f} req/s")
        print(f"{'mode':7} {'req/s':>7} {'of ideal':>9} {'p50 s':>6} {'p99 s':>6} {'errors':>7}  kinds")
        for stream in (False, True):
            # Tier 4: the smallest backlog limit (200, below the 300 clients); the master key acting for no
            # organization has no plan limits, so what is measured is delivery.
            body = {"messages": [{"role": "user", "content": SLOW}], "stream": stream, "model": "tier4"}
            result = run_wrk(f"http://127.0.0.1:{port}/ai/chat/completions", body,
                             {"authorization": "Bearer sk-master-key", "content-type": "application/json"},
                             args.clients, args.seconds, workdir, timeout_s=30)
            print(f"{'stream' if stream else 'sync':7} {result.rps:7.1f} {result.rps / ideal:9.1%} "
                  f"{result.p50_ms / 1000:6.2f} {result.p99_ms / 1000:6.2f} {result.errors:7}  {result.error_kinds}")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
