"""Overload: tier 1 driven past its capacity with a slow provider (1 s per answer), tiers 2 and 3 at a light load.

With a backlog limit, the overloaded tier answers 503 + retry-after at once; without one (a huge limit), the same
load queues up and times out as 504s. The other tiers keep answering either way. Prints one table per run.

    .venv/bin/python -m benchmarks.overload [--seconds 20] [--tier1-rps 12] [--backlog 10] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

from tests.harness import MASTER_KEY, Gateway, RedisProcess

ORG = {"organization_id": "org_123"}  # enterprise plan: rate limits out of the way


async def one(client: httpx.AsyncClient, tier: str, n: int, deadline: float) -> tuple[str, int, float]:
    body = {"model": tier, "metadata": ORG,
            "messages": [{"role": "user", "content": f"[sim ttft_ms=1000 tokens=8] pergunta {n}"}]}
    started = time.monotonic()
    try:
        response = await client.post("/chat/completions", json=body, headers={"x-gateway-timeout": str(deadline)})
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    return tier, status, time.monotonic() - started


Result = tuple[str, int, float]  # tier, HTTP status (0: no answer), seconds


async def drive(base_url: str, seconds: float, rates: dict[str, float], deadline: float) -> list[Result]:
    """Open-loop load: each tier gets `rate` requests per second whatever the answers do."""
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {MASTER_KEY}"},
                                 timeout=deadline + 30, limits=limits) as client:
        tasks: list[asyncio.Task[tuple[str, int, float]]] = []
        started = time.monotonic()
        sent: Counter[str] = Counter()
        while (elapsed := time.monotonic() - started) < seconds:
            for tier, rate in rates.items():
                while sent[tier] < elapsed * rate:
                    tasks.append(asyncio.create_task(one(client, tier, sent[tier], deadline)))
                    sent[tier] += 1
            await asyncio.sleep(0.01)
        return await asyncio.gather(*tasks)


def report(title: str, results: list[tuple[str, int, float]]) -> None:
    by_tier: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for tier, status, seconds in results:
        by_tier[tier].append((status, seconds))
    print(f"\n{title}")
    print(f"{'tier':6} {'sent':>5} {'200':>5} {'503':>5} {'504':>5} {'other':>5}  {'p50 200':>8} {'p50 503':>8} "
          f"{'max 503':>8}")
    for tier in sorted(by_tier):
        rows = by_tier[tier]
        count = Counter(status for status, _ in rows)
        ok = [s for status, s in rows if status == 200]
        refused = [s for status, s in rows if status == 503]
        other = len(rows) - count[200] - count[503] - count[504]
        print(f"{tier:6} {len(rows):5} {count[200]:5} {count[503]:5} {count[504]:5} {other:5}  "
              f"{_p50(ok):>8} {_p50(refused):>8} {_max(refused):>8}")


def _p50(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}s" if values else "-"


def _max(values: list[float]) -> str:
    return f"{max(values):.2f}s" if values else "-"


def run(backlog: int, args: argparse.Namespace) -> list[tuple[str, int, float]]:
    redis = RedisProcess.start()
    overrides = {"tiers": {"tier1": {"backlog_limit": backlog}}}
    specs = [("tier1", args.concurrency), ("tier2,tier3,tier4", 16)]
    gateway = Gateway(Path(tempfile.mkdtemp(prefix="overload-")), redis, config_overrides=overrides,
                      worker_specs=specs)
    try:
        gateway.start()
        rates = {"tier1": args.tier1_rps, "tier2": 2.0, "tier3": 1.0}
        return asyncio.run(drive(gateway.ai_url, args.seconds, rates, args.deadline))
    finally:
        gateway.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tier1-rps", type=float, default=12, help="tier-1 offered load (capacity: concurrency/s)")
    parser.add_argument("--concurrency", type=int, default=4, help="the tier-1 worker's slots")
    parser.add_argument("--backlog", type=int, default=10, help="tier-1 backlog limit of the first run")
    parser.add_argument("--deadline", type=float, default=8, help="per-request deadline (x-gateway-timeout)")
    args = parser.parse_args()
    print(f"tier 1: {args.tier1_rps:g} req/s offered, capacity {args.concurrency} req/s "
          f"({args.concurrency} slots x 1 s answers), deadline {args.deadline:g}s, {args.seconds:g}s of load; "
          "tier 2: 2 req/s, tier 3: 1 req/s")
    report(f"backlog_limit {args.backlog}", run(args.backlog, args))
    report("backlog_limit 100000 (no backpressure)", run(100_000, args))


if __name__ == "__main__":
    main()
