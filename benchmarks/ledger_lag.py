"""How far the database lags the answers under load: from a request's answer to its row in the usage ledger.

    .venv/bin/python -m benchmarks.ledger_lag                       # 32 clients for 20 s
    .venv/bin/python -m benchmarks.ledger_lag --clients 64 --seconds 30

Starts a gateway (tests/harness.py: redis-server, simulator, one worker, one API, a PostgreSQL database of its
own), drives it with concurrent sync requests, and every 100 ms takes the request answered last and polls the
database until its ledger row is there. Prints the answer rate and the lag's median, p95 and maximum, then the
writer's own figure (tiergate_ledger_lag_seconds: stream entry to commit).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from records.repository import AuditFilter, Records
from tests.harness import MASTER_KEY, Gateway, RedisProcess

#: The master key naming no organization: the operator's traffic, no plan limits (admission is not measured).
BODY = {"model": "tier1", "messages": [{"role": "user", "content": "[sim tokens=20] oi"}]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=200, help="the worker's")
    args = parser.parse_args()
    redis = RedisProcess.start()
    gateway = Gateway(Path(tempfile.mkdtemp(prefix="ledger-lag-")), redis,
                      worker_specs=[("tier1,tier2,tier3,tier4", args.concurrency)]).start()
    try:
        answered, lags = asyncio.run(drive(gateway, args.clients, args.seconds))
        gateway.wait_recorded(seconds=120)
        print(f"{answered:,} answers in {args.seconds:.0f}s ({answered / args.seconds:,.0f}/s), {args.clients} clients")
        lags.sort()
        print(f"answer → ledger row, {len(lags)} samples: median {statistics.median(lags) * 1000:.0f} ms, "
              f"p95 {lags[round(0.95 * (len(lags) - 1))] * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms")
        metrics = httpx.get(f"{gateway.base_url}/metrics", headers=gateway.headers(), timeout=10).text
        print("\n".join(line for line in metrics.splitlines() if line.startswith("tiergate_ledger_lag_seconds")))
    finally:
        gateway.stop()
        redis.stop()
    return 0


async def drive(gateway: Gateway, clients: int, seconds: float) -> tuple[int, list[float]]:
    last: list[tuple[str, float]] = []
    count = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=60) as client:
        async def one() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                response = await client.post(f"{gateway.ai_url}/chat/completions", json=BODY)
                response.raise_for_status()
                count += 1
                last.append((response.headers["x-request-id"], time.monotonic()))
                del last[:-1]

        lags: list[float] = []
        sampler = threading.Thread(target=sample, args=(gateway.database_url, last, deadline, lags))
        sampler.start()
        await asyncio.gather(*(one() for _ in range(clients)))
        sampler.join()
    return count, lags


def sample(url: str, last: list[tuple[str, float]], deadline: float, lags: list[float]) -> None:
    """In a thread of its own (its own loop and connections): the load's loop is not slowed by the polling."""
    async def run() -> None:
        records = Records.connect(url)
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                if not last:
                    continue
                request_id, answered_at = last[-1]
                while not (await records.audit_page(AuditFilter(request_id=request_id), 1))[0]:
                    await asyncio.sleep(0.01)
                lags.append(time.monotonic() - answered_at)
        finally:
            await records.close()

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
