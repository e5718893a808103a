"""Decision time of the router over the labelled turns: p50, p99 and max, in microseconds (exit 1 if p99 >= 0.5 ms).

    .venv/bin/python benchmarks/routing_bench.py [FILE ...] [--rounds N] [--compare TREE ...]

With --compare, each other checkout's router (a `git worktree` of another commit) is built from its own modules
in this same process, and every turn is decided by each router in turn, the order rotating by round: this
machine's speed drifts from minute to minute, and side by side it weighs on all of them alike.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=sorted(DATA.glob("routing_*.jsonl")),
                        help="labelled JSON Lines files (default: every tests/data/routing_*.jsonl)")
    parser.add_argument("--rounds", type=int, default=50, help="passes over the turns")
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another checkout whose router is measured beside this one's")
    args = parser.parse_args()
    trees = [ROOT, *(tree.resolve() for tree in args.compare)]
    lines = [json.loads(line) for path in args.files for line in path.read_text().splitlines() if line.strip()]
    routers = [_router_of(tree, lines) for tree in trees]
    for router, requests in routers:  # warm-up: first calls pay for caches and lazy imports
        for request in requests:
            router.decide(request)
    wall: list[list[int]] = [[] for _ in trees]
    cpu: list[list[int]] = [[] for _ in trees]
    for round_ in range(args.rounds):
        order = [(round_ + k) % len(trees) for k in range(len(trees))]
        for turn in range(len(lines)):
            for k in order:
                router, requests = routers[k]
                start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                router.decide(requests[turn])
                cpu[k].append(time.thread_time_ns() - start_cpu)
                wall[k].append(time.perf_counter_ns() - start)
    print(f"{len(lines)} turns x {args.rounds} rounds = {len(wall[0])} decisions per tree")
    first_wall, first_cpu = _percentiles(wall[0]), _percentiles(cpu[0])
    for k, tree in enumerate(trees):
        if len(trees) > 1:
            print(f"{tree}:")
        _report("wall", _percentiles(wall[k]), first_wall, k > 0)
        # CPU time leaves out preemption: a busy machine inflates wall-clock tails only
        _report("cpu ", _percentiles(cpu[k]), first_cpu, k > 0)
    return 0 if first_wall[1] < 500_000 else 1


def _router_of(tree: Path, lines: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    """The router of a checkout and the requests it reads from the labelled lines, built from that checkout's own
    modules: this checkout's are set aside meanwhile and put back after, the other's dropped."""
    ours = _modules_of(ROOT)
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(tree))
    try:
        settings = importlib.import_module("config").load_settings()
        plans = {name: plan.max_tier for name, plan in settings.plans.items()}
        router = importlib.import_module("cli.routing_commands").build_router(settings)
        parse_turn = importlib.import_module("routing.evaluation").parse_turn
        requests = [parse_turn(line, plans, n).request() for n, line in enumerate(lines, 1)]
        if not Path(router.decide.__code__.co_filename).is_relative_to(tree):
            raise SystemExit(f"{tree}: the router was not built from this checkout's modules")
    finally:
        sys.path.remove(str(tree))
        for name in _modules_of(tree):
            del sys.modules[name]
        sys.modules.update(ours)
    return router, requests


def _modules_of(tree: Path) -> dict[str, Any]:
    """The imported modules whose file is in the checkout (its virtualenv aside)."""
    prefix, venv = f"{tree}/", f"{tree}/.venv/"
    return {name: module for name, module in list(sys.modules.items())
            if name != "__main__" and (file := getattr(module, "__file__", None))
            and file.startswith(prefix) and not file.startswith(venv)}


def _percentiles(timings: list[int]) -> tuple[int, int, int]:
    """p50, p99 and max, in nanoseconds."""
    timings = sorted(timings)
    return timings[len(timings) // 2], timings[int(len(timings) * 0.99)], timings[-1]


def _report(label: str, figures: tuple[int, int, int], first: tuple[int, int, int], compared: bool) -> None:
    p50, p99, top = figures
    ratio = f"   vs this checkout: p50 {p50 / first[0]:.2f}x, p99 {p99 / first[1]:.2f}x" if compared else ""
    print(f"{label}  p50 {p50 / 1000:.1f} us   p99 {p99 / 1000:.1f} us   max {top / 1000:.1f} us{ratio}")


if __name__ == "__main__":
    raise SystemExit(main())
