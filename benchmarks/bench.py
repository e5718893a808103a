"""tiergate side by side with the LiteLLM proxy, on one core each, against the same upstreams (issue 8).

    .venv/bin/python -m benchmarks.bench [--litellm /work/litellm-venv] [--full] [--scenarios 1,2,3,4]

Starts an nginx mock and the simulator (CPU 1, with the load generator), tiergate (Redis, API, worker; CPU 0)
and, with --litellm, the LiteLLM proxy from that venv (CPU 0, idle while tiergate runs and vice versa). Runs
the scenarios with each target measured right after the others at the same point, prints one table and the
targets met or missed, and writes everything as JSON to benchmarks/results/. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.loadgen import LoadResult, first_tokens, percentile, run_wrk
from benchmarks.procs import cpu_seconds, name_of, pinned, rss_mb, stop
from benchmarks.systems import LiteLLM, System, Tiergate, Upstreams
from benchmarks.upstream import start_nginx, wait_post
from cli.local_redis import free_port
from tests.harness import ROOT

SYSTEM_CPU, LOAD_CPU = 0, 1
PROMPT = "Olá, qual o prazo de entrega do meu pedido para São Paulo?"
SLOW = "[sim ttft_ms=1500 token_delay_ms=0 tokens=20]"
TTFT = "[sim ttft_ms=300 token_delay_ms=20 tokens=20]"


@dataclass
class Direct:
    """The upstream itself, called by the same load generator: the floor every gateway adds to."""

    upstreams: Upstreams
    name: str = "direct"
    headers: dict[str, str] = field(default_factory=dict)

    def url_for(self, kind: str) -> str:
        return f"{self.upstreams.base(kind)}/chat/completions"

    def model(self, kind: str) -> str:
        return "gpt-3.5-turbo"


Target = Direct | System


def url_for(target: Target, kind: str) -> str:
    return target.url_for(kind) if isinstance(target, Direct) else target.url


def body(target: Target, kind: str, stream: bool, directive: str = "") -> dict[str, Any]:
    text = f"{directive} {PROMPT}".strip()
    extra = target.extra_body() if isinstance(target, System) else {}
    return {"model": target.model(kind), "messages": [{"role": "user", "content": text}], "stream": stream, **extra}


def load(target: Target, kind: str, stream: bool, connections: int, seconds: float, workdir: Path,
         directive: str = "", timeout_s: float = 10.0) -> LoadResult:
    """One wrk run, with the CPU time the system under test spent on it (per answered request)."""
    pids = list(target.pids().values()) if isinstance(target, System) else []
    before = cpu_seconds(pids)
    result = run_wrk(url_for(target, kind), body(target, kind, stream, directive), target.headers, connections,
                     seconds, workdir, timeout_s)
    if pids and result.requests:
        result.cpu_ms_per_request = (cpu_seconds(pids) - before) * 1000 / result.requests
    return result


# --- scenarios ---------------------------------------------------------------------------------------


def overhead(targets: list[Target], args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Scenario 1: upstream answering at once; each concurrency, sync and streaming, every target in turn."""
    rows = []
    for target in targets[1:]:  # warm connections, pools and caches
        for stream in (False, True):
            load(target, "stream" if stream else "sync", stream, 8, 2, workdir)
    for connections in args.concurrency:
        for stream in (False, True):
            kind = "stream" if stream else "sync"
            for target in targets:
                result = load(target, kind, stream, connections, args.duration, workdir)
                rows.append({"scenario": 1, "mode": kind, "clients": connections, "target": target.name,
                             **result.to_dict()})
                _progress(rows[-1])
    return rows


def slow_upstream(targets: list[Target], args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Scenario 2: every answer takes 1.5 s; `clients` concurrent clients; throughput against clients / 1.5 s."""
    rows = []
    ideal = args.slow_clients / 1.5
    for stream in (False, True):
        for target in targets:
            result = load(target, "slow", stream, args.slow_clients, args.slow_duration, workdir, SLOW,
                          timeout_s=30)
            rows.append({"scenario": 2, "mode": "stream" if stream else "sync", "clients": args.slow_clients,
                         "target": target.name, "ideal_rps": round(ideal, 1),
                         "of_ideal": round(result.rps / ideal, 4), **result.to_dict()})
            _progress(rows[-1])
    return rows


def first_token(targets: list[Target], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Scenario 3: 300 ms to the first token, 20 ms per token; streams measured in interleaved rounds."""
    seconds: dict[str, list[float]] = {t.name: [] for t in targets}
    rounds = max(1, args.ttft_streams // 20)
    for target in targets:  # warm-up
        asyncio.run(first_tokens(url_for(target, "slow"), body(target, "slow", True, TTFT), target.headers,
                                 args.ttft_clients, args.ttft_clients))
    for _ in range(rounds):
        for target in targets:
            seconds[target.name] += asyncio.run(first_tokens(url_for(target, "slow"), body(target, "slow", True, TTFT),
                                                             target.headers, 20, args.ttft_clients))
    rows = []
    for target in targets:
        values = seconds[target.name]
        rows.append({"scenario": 3, "mode": "stream", "clients": args.ttft_clients, "target": target.name,
                     "requests": len(values), "ttft_p50_ms": round(percentile(values, 50) * 1000, 3),
                     "ttft_p99_ms": round(percentile(values, 99) * 1000, 3)})
        _progress(rows[-1])
    return rows


def memory(systems: list[System], args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Scenario 4: RSS of every process of each system after a warm-up, then after N more requests
    (half sync, half streaming, 32 clients)."""
    rows = []
    warm = max(200, args.memory_requests // 10)
    for system in systems:
        for stream in (False, True):
            _about(system, stream, warm // 2, args.memory_max_seconds, workdir)
        time.sleep(1)
        before = {role: rss_mb(pid) for role, pid in system.pids().items()}
        started = time.monotonic()
        answered = sum(_about(system, stream, args.memory_requests // 2, args.memory_max_seconds, workdir)
                       for stream in (False, True))
        time.sleep(1)
        pids = system.pids()
        for role, pid in pids.items():
            after = rss_mb(pid)
            base = before.get(role, 0.0)
            rows.append({"scenario": 4, "target": system.name, "process": role, "command": name_of(pid),
                         "requests": answered, "warmup_requests": warm, "rss_before_mb": round(base, 2),
                         "rss_after_mb": round(after, 2),
                         "growth_pct": round((after - base) / base * 100, 2) if base else None,
                         "seconds": round(time.monotonic() - started, 1)})
            _progress(rows[-1])
    return rows


def _about(system: System, stream: bool, count: int, max_seconds: float, workdir: Path) -> int:
    """About `count` requests at 32 clients (at most `max_seconds` when set); returns how many were answered.
    Not wrk's count limit: `wrk.thread:stop()` ends its thread, but wrk's main thread still sleeps the whole
    duration. A 3 s probe measures the rate instead, and the run lasts what the rest needs at that rate."""
    kind = "stream" if stream else "sync"
    probe = load(system, kind, stream, 32, 3, workdir)
    seconds = max(1.0, (count - probe.requests) / max(probe.rps, 1.0))
    if max_seconds:
        seconds = min(seconds, max_seconds)
    return probe.requests + load(system, kind, stream, 32, seconds, workdir).requests


def _progress(row: dict[str, Any]) -> None:
    print("  " + json.dumps({k: v for k, v in row.items() if k not in ("error_kinds", "command")}), flush=True)


# --- report ------------------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    lines = []
    by_point: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["scenario"] in (1, 2):
            by_point.setdefault((row["scenario"], row["mode"], row["clients"]), {})[row["target"]] = row
    header = f"{'':24}{'p50 ms':>9}{'p99 ms':>9}{'+p50':>8}{'+p99':>8}{'req/s':>9}{'errors':>8}{'cpu/req':>9}"
    for scenario, title in ((1, "1. upstream answering at once (nginx)"),
                            (2, "2. upstream taking 1.5 s (simulator)")):
        points = [(k, v) for k, v in by_point.items() if k[0] == scenario]
        if not points:
            continue
        lines += ["", title, header + ("   of ideal" if scenario == 2 else "")]
        for (_, mode, clients), targets in points:
            direct = targets.get("direct")
            for name, row in targets.items():
                plus50 = row["p50_ms"] - direct["p50_ms"] if direct and name != "direct" else None
                plus99 = row["p99_ms"] - direct["p99_ms"] if direct and name != "direct" else None
                cpu = row.get("cpu_ms_per_request")
                label = f"{mode} c={clients} {name}"
                lines.append(f"{label:24}{row['p50_ms']:9.2f}{row['p99_ms']:9.2f}"
                             f"{_num(plus50, 8)}{_num(plus99, 8)}{row['rps']:9.1f}{row['errors']:8d}"
                             f"{_num(cpu, 9)}" + (f"{row['of_ideal'] * 100:10.1f}%" if scenario == 2 else ""))
            pairs = [(name, "tiergate") for name in targets if name.startswith("tiergate@")]
            pairs += [(name, "litellm") for name in targets if name.startswith("tiergate") and "litellm" in targets]
            for ours_name, theirs_name in pairs:
                t, lt = targets[ours_name], targets[theirs_name]
                label = f"  {ours_name}/{theirs_name}"
                lines.append(f"{label:24}{_ratio(t['p50_ms'], lt['p50_ms'], 9)}"
                             f"{_ratio(t['p99_ms'], lt['p99_ms'], 9)}{'':16}{_ratio(t['rps'], lt['rps'], 9)}"
                             f"{'':8}{_ratio(t.get('cpu_ms_per_request') or 0, lt.get('cpu_ms_per_request') or 0, 9)}")
    ttft = [r for r in rows if r["scenario"] == 3]
    if ttft:
        direct = next((r for r in ttft if r["target"] == "direct"), None)
        lines += ["", "3. time to first token (300 ms TTFT, 20 ms/token)",
                  f"{'':24}{'p50 ms':>9}{'p99 ms':>9}{'+p50':>8}{'+p99':>8}{'streams':>9}"]
        for row in ttft:
            plus50 = row["ttft_p50_ms"] - direct["ttft_p50_ms"] if direct and row is not direct else None
            plus99 = row["ttft_p99_ms"] - direct["ttft_p99_ms"] if direct and row is not direct else None
            label = f"c={row['clients']} {row['target']}"
            lines.append(f"{label:24}{row['ttft_p50_ms']:9.2f}"
                         f"{row['ttft_p99_ms']:9.2f}{_num(plus50, 8)}{_num(plus99, 8)}{row['requests']:9d}")
    mem = [r for r in rows if r["scenario"] == 4]
    if mem:
        lines += ["", f"4. memory: RSS after {mem[0]['warmup_requests']} warm-up requests, then after "
                      f"{mem[0]['requests']} more", f"{'':24}{'before MB':>10}{'after MB':>10}{'growth':>9}"]
        for row in mem:
            growth = f"{row['growth_pct']:8.2f}%" if row["growth_pct"] is not None else f"{'-':>9}"
            label = f"{row['target']} {row['process']}"
            lines.append(f"{label:24}{row['rss_before_mb']:10.1f}"
                         f"{row['rss_after_mb']:10.1f}{growth}")
    return "\n".join(lines)


def _num(value: float | None, width: int) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"


def _ratio(ours: float, theirs: float, width: int) -> str:
    return f"{ours / theirs:{width - 1}.2f}x" if theirs else f"{'-':>{width}}"


def targets_report(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 8's targets, each met or missed, from this run's rows."""
    out = []

    def row(**match: Any) -> dict[str, Any] | None:
        return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)

    def check(label: str, value: float | None, limit: float, at_most: bool = True, unit: str = "") -> None:
        if value is None:
            return
        met = value <= limit if at_most else value >= limit
        out.append(f"{'MET   ' if met else 'MISSED'} {label}: {value:.2f}{unit} ({'≤' if at_most else '≥'} "
                   f"{limit:g}{unit})")

    for mode, p50_max, p99_max in (("sync", 3, 6), ("stream", 4, 8)):
        t, d = row(scenario=1, mode=mode, clients=1, target="tiergate"), row(scenario=1, mode=mode, clients=1,
                                                                               target="direct")
        if t and d:
            check(f"{mode} overhead p50 at 1 client", t["p50_ms"] - d["p50_ms"], p50_max, unit=" ms")
            check(f"{mode} overhead p99 at 1 client", t["p99_ms"] - d["p99_ms"], p99_max, unit=" ms")
    for mode in ("sync", "stream"):
        ours = [r["rps"] for r in rows if r["scenario"] == 1 and r["mode"] == mode and r["target"] == "tiergate"]
        theirs = [r["rps"] for r in rows if r["scenario"] == 1 and r["mode"] == mode and r["target"] == "litellm"]
        if ours and theirs:
            check(f"{mode} saturated throughput vs LiteLLM ({max(ours):.0f} vs {max(theirs):.0f} req/s)",
                  max(ours) / max(theirs), 5, at_most=False, unit="x")
    for mode in ("sync", "stream"):
        t = row(scenario=2, mode=mode, target="tiergate")
        if t:
            check(f"slow upstream {mode}: success", t["success_rate"] * 100, 100, at_most=False, unit="%")
            check(f"slow upstream {mode}: of ideal throughput", t["of_ideal"] * 100, 90, at_most=False, unit="%")
            check(f"slow upstream {mode}: p99", t["p99_ms"] / 1000, 1.7, unit=" s")
    t, d = row(scenario=3, target="tiergate"), row(scenario=3, target="direct")
    if t and d:
        check("TTFT overhead p50", t["ttft_p50_ms"] - d["ttft_p50_ms"], 5, unit=" ms")
    for r in rows:
        if r["scenario"] == 4 and r["target"] == "tiergate" and r["growth_pct"] is not None:
            check(f"memory growth of {r['process']} over {r['requests']} requests", r["growth_pct"], 5, unit="%")
    return out


# --- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--litellm", type=Path, help="a venv with `litellm[proxy]` installed: run it beside")
    parser.add_argument("--scenarios", default="1,2,3,4", help="which of the four scenarios (default all)")
    parser.add_argument("--full", action="store_true",
                        help="the issue's full runs: 30 s per point, 60 s slow-upstream runs, 100,000 requests")
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario-1 point")
    parser.add_argument("--concurrency", default="1,8,32,64", help="scenario-1 client counts")
    parser.add_argument("--slow-clients", type=int, default=300)
    parser.add_argument("--slow-duration", type=float, default=20)
    parser.add_argument("--ttft-streams", type=int, default=100, help="streams per target in scenario 3")
    parser.add_argument("--ttft-clients", type=int, default=4)
    parser.add_argument("--memory-requests", type=int, default=2000)
    parser.add_argument("--memory-max-seconds", type=float, default=0,
                        help="scenario 4: cap each half's run (a slow system answers fewer requests)")
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="tiergate worker processes")
    parser.add_argument("--worker-concurrency", type=int, default=400, help="jobs one worker runs at once")
    parser.add_argument("--worker-arg", action="append", default=[], help="extra `tiergate worker` argument")
    parser.add_argument("--redis", choices=("tcp", "unix", "both"), default="tcp",
                        help="how tiergate reaches Redis: TCP loopback, a Unix socket (one host), or both side by side")
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another checkout (e.g. a git worktree with a change): run its tiergate beside")
    parser.add_argument("--organization", action="store_true",
                        help="tiergate acts for an organization with every limit and a budget (none reached), "
                             "not the unlimited operator: measures admission and budget reservations")
    parser.add_argument("--keep", action="store_true", help="leave the logs' directory in place")
    args = parser.parse_args(argv)
    if args.full:
        args.duration, args.slow_duration, args.memory_requests = 30, 60, 100_000
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.scenarios = {int(s) for s in args.scenarios.split(",")}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        print("benchmarks.bench needs two CPUs (system under test on one, load and upstream on the other)")
        return 2
    os.sched_setaffinity(0, {LOAD_CPU})  # this process, wrk and the TTFT client share the load core
    workdir = Path(tempfile.mkdtemp(prefix="tiergate-bench-"))
    print(f"logs in {workdir}", flush=True)
    started: list[Any] = []
    rows: list[dict[str, Any]] = []
    try:
        mock_port, sim_port = free_port(), free_port()
        started.append(start_nginx(workdir, mock_port, LOAD_CPU))
        sim = pinned(LOAD_CPU, [sys.executable, "-m", "cli.main", "sim", "--port", str(sim_port), "--ttft-ms", "0",
                                "--token-delay-ms", "0"], workdir / "sim.log", cwd=ROOT)
        started.append(sim)
        upstreams = Upstreams(f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{sim_port}")
        wait_post(f"{upstreams.base('slow')}/chat/completions", sim)
        tiergate = Tiergate("tiergate", workdir / "tiergate", SYSTEM_CPU, api_processes=args.api_processes,
                            workers=args.workers, worker_concurrency=args.worker_concurrency,
                            worker_args=args.worker_arg, redis_socket=args.redis == "unix",
                            organization=args.organization)
        started.append(tiergate)
        tiergate.start(upstreams)
        systems: list[System] = [tiergate]
        if args.redis == "both":
            over_socket = Tiergate("tiergate@unix", workdir / "tiergate-unix", SYSTEM_CPU,
                                   api_processes=args.api_processes, workers=args.workers,
                                   worker_concurrency=args.worker_concurrency, worker_args=args.worker_arg,
                                   redis_socket=True)
            started.append(over_socket)
            over_socket.start(upstreams)
            systems.append(over_socket)
        for index, tree in enumerate(args.compare):
            other = Tiergate(f"tiergate@{tree.name}", workdir / f"compare{index}", SYSTEM_CPU,
                             api_processes=args.api_processes, workers=args.workers,
                             worker_concurrency=args.worker_concurrency, worker_args=args.worker_arg,
                             root=tree.resolve(), organization=args.organization)
            started.append(other)
            other.start(upstreams)
            systems.append(other)
        if args.litellm:
            litellm = LiteLLM("litellm", workdir / "litellm", SYSTEM_CPU, venv=args.litellm)
            started.append(litellm)
            litellm.start(upstreams)
            systems.append(litellm)
        targets: list[Target] = [Direct(upstreams), *systems]
        if 1 in args.scenarios:
            print("scenario 1: overhead and throughput", flush=True)
            rows += overhead(targets, args, workdir)
        if 2 in args.scenarios:
            print("scenario 2: slow upstream, many clients", flush=True)
            rows += slow_upstream(targets, args, workdir)
        if 3 in args.scenarios:
            print("scenario 3: time to first token", flush=True)
            rows += first_token(targets, args)
        if 4 in args.scenarios:
            print("scenario 4: memory", flush=True)
            rows += memory(systems, args, workdir)
    except KeyboardInterrupt:  # report what was measured so far
        print("interrupted", flush=True)
    finally:
        for item in reversed(started):
            item.stop() if isinstance(item, System) else stop(item)
    report = table(rows)
    verdicts = targets_report(rows)
    print(report)
    print("\ntargets (issue 8):\n" + "\n".join(verdicts))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    out = results / f"bench-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": {k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
                                        for k, v in vars(args).items()},
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "kernel": platform.release(), "git": _git_head()},
                               "rows": rows, "table": report, "targets": verdicts}, indent=1, default=str))
    print(f"\nwritten to {out}")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return 0


def _git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
