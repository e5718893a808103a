"""Where tiergate's CPU goes under load: CPU per request of each process, and py-spy profiles of the Python ones.

    .venv/bin/python -m benchmarks.profile [--mode sync|stream] [--clients 32] [--seconds 15] [--top 25]

Same pinning and upstream as benchmarks.bench. Writes collapsed stacks to benchmarks/results/ and prints the
functions with the most samples (inclusive and self) per process. Needs py-spy in the venv.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.bench import LOAD_CPU, SLOW, SYSTEM_CPU, body, load
from benchmarks.procs import cpu_seconds, pinned, stop
from benchmarks.systems import Tiergate, Upstreams
from benchmarks.upstream import start_nginx, wait_post
from cli.local_redis import free_port
from tests.harness import ROOT


def summarize(collapsed: Path, top: int) -> str:
    """Top functions by inclusive and by self samples, from py-spy's raw (collapsed) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    lines = [f"  {total} samples; inclusive:"]
    lines += [f"    {n * 100 / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["  self:"]
    lines += [f"    {n * 100 / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.profile")
    parser.add_argument("--mode", choices=("sync", "stream"), default="sync")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--slow", action="store_true", help="the 1.5 s upstream of scenario 2 instead of the mock")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--worker-arg", action="append", default=[])
    parser.add_argument("--redis-socket", action="store_true", help="Redis over a Unix socket instead of TCP")
    parser.add_argument("--worker-concurrency", type=int, default=400)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("py-spy missing: .venv/bin/pip install py-spy")
        return 2
    os.sched_setaffinity(0, {LOAD_CPU})
    workdir = Path(tempfile.mkdtemp(prefix="tiergate-profile-"))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    mock_port, sim_port = free_port(), free_port()
    nginx = start_nginx(workdir, mock_port, LOAD_CPU)
    sim = pinned(LOAD_CPU, [sys.executable, "-m", "cli.main", "sim", "--port", str(sim_port)], workdir / "sim.log",
                 cwd=ROOT)
    upstreams = Upstreams(f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{sim_port}")
    system = Tiergate("tiergate", workdir / "tiergate", SYSTEM_CPU, worker_concurrency=args.worker_concurrency,
                      worker_args=args.worker_arg, redis_socket=args.redis_socket)
    try:
        wait_post(f"{upstreams.base('slow')}/chat/completions", sim)
        system.start(upstreams)
        stream = args.mode == "stream"
        load(system, args.mode, stream, 8, 3, workdir)  # warm-up
        pids = system.pids()
        before = {role: cpu_seconds([pid]) for role, pid in pids.items()}
        spies = {}
        for role, pid in pids.items():
            if role == "redis":
                continue
            out = results / f"profile-{args.mode}-{role}.txt"
            spies[role] = (out, subprocess.Popen([spy, "record", "-p", str(pid), "-r", str(args.rate), "-d",
                                                  str(int(args.seconds)), "-f", "raw", "-o", str(out), "--gil",
                                                  "--nonblocking"], stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL))
        result_holder = []
        kind, directive = ("slow", SLOW) if args.slow else (args.mode, "")
        runner = threading.Thread(target=lambda: result_holder.append(
            load(system, kind, stream, args.clients, args.seconds, workdir, directive, timeout_s=30)))
        runner.start()
        runner.join()
        result = result_holder[0]
        print(f"{args.mode}, {args.clients} clients: {result.rps:.1f} req/s, p50 {result.p50_ms:.2f} ms, "
              f"errors {result.errors}; body {len(str(body(system, args.mode, stream)))} chars")
        for role, pid in pids.items():
            spent = cpu_seconds([pid]) - before[role]
            print(f"  {role:10} {spent * 1000 / max(1, result.requests):7.2f} ms CPU per request")
        for role, (out, process) in spies.items():
            process.wait(60)
            if out.exists():
                print(f"{role} ({out}):")
                print(summarize(out, args.top))
    finally:
        system.stop()
        stop(sim)
        stop(nginx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
