"""`/ai/usage` on a big ledger: loads ROWS usage rows into a PostgreSQL database of its own, starts the API on it,
and prints the latency of GET /ai/usage (p50, p95) for the questions operators ask.

    .venv/bin/python -m benchmarks.usage_bench                  # 1,000,000 rows, 100 organizations, 30 days
    .venv/bin/python -m benchmarks.usage_bench --rows 200000 --samples 50

The rows span the 30 days before today (UTC) across 100 organizations (the first one has a tenth of all
traffic), 4 tiers, 8 models and 200 users per organization. They are loaded (COPY) into a ledger at the first schema
revision, and the migrations then build the usage rollup from it, as for an operator upgrading. The database is
created on TIERGATE_TEST_POSTGRES (default: the local server) and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from benchmarks.loadgen import percentile
from cli.local_redis import free_port
from records.schema import upgrade
from tests.databases import postgres_database
from tests.harness import MASTER_KEY, RedisProcess, stop_process, tiergate, wait_http, write_config

TIERS = ("tier1", "tier2", "tier3", "tier4")
MODELS = tuple(f"{tier}/model-{n}" for tier in TIERS for n in (1, 2))
COLUMNS = ("request_id", "organization_id", "user_id", "key_id", "tier", "model", "prompt_tokens",
           "completion_tokens", "cost_nusd", "cache_hit", "status", "latency_ms", "time", "day")


def rows(count: int, first_day: dt.date, days: int, seed: int = 7) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    start = dt.datetime.combine(first_day, dt.time.min, dt.UTC).timestamp()
    made = []
    for _ in range(count):
        org = "org_000" if rng.random() < 0.1 else f"org_{rng.randrange(1, 100):03d}"
        model = rng.choice(MODELS)
        moment = start + rng.random() * days * 86400
        made.append((uuid.uuid4().hex, org, f"{org}/user_{rng.randrange(200)}", f"key_{org[-3:]}", model[:5], model,
                     rng.randrange(20, 2000), rng.randrange(5, 800), rng.randrange(1_000, 5_000_000),
                     rng.random() < 0.05, 200 if rng.random() < 0.98 else 503, rng.uniform(50, 4000), moment,
                     dt.datetime.fromtimestamp(moment, dt.UTC).date()))
    return made


async def load(url: str, count: int, first_day: dt.date, days: int) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for offset in range(0, count, 100_000):
            await connection.copy_records_to_table("usage_ledger", records=rows(min(100_000, count - offset),
                                                                                first_day, days, seed=offset),
                                                   columns=COLUMNS)
        await connection.execute("ANALYZE usage_ledger")
    finally:
        await connection.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--samples", type=int, default=100, help="requests per question")
    args = parser.parse_args()
    today = dt.datetime.now(dt.UTC).date()
    first_day = today - dt.timedelta(days=args.days - 1)
    workdir = Path(tempfile.mkdtemp(prefix="usage-bench-"))
    redis = RedisProcess.start()
    try:
        with postgres_database(migrate=False) as url:
            upgrade(url, "0001_records")
            seconds = asyncio.run(load(url, args.rows, first_day, args.days))
            print(f"loaded {args.rows:,} ledger rows over {args.days} days in {seconds:.1f}s")
            started = time.perf_counter()
            upgrade(url)
            print(f"tiergate db upgrade (the rollup built from them): {time.perf_counter() - started:.1f}s")
            port = free_port()
            env = {"REDIS_URL": redis.url, "LITELLM_MASTER_KEY": MASTER_KEY, "DATABASE_URL": url,
                   "TIERGATE_CONFIG": str(write_config(workdir / "config.yaml", "http://127.0.0.1:9")),
                   "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
            api = tiergate("api", "--host", "127.0.0.1", "--port", str(port), env=env, log=workdir / "api.log")
            try:
                wait_http(f"http://127.0.0.1:{port}/health/liveness", processes=[api], log=workdir / "api.log")
                measure(f"http://127.0.0.1:{port}/ai/usage", first_day, today, args.samples)
            finally:
                stop_process(api)
    finally:
        redis.stop()
    return 0


def measure(url: str, first_day: dt.date, today: dt.date, samples: int) -> None:
    month = {"start_date": first_day.isoformat(), "end_date": today.isoformat()}
    questions = {
        "busiest organization, 30 days": {**month, "organization_id": "org_000"},
        "one organization, 30 days": {**month, "organization_id": "org_042"},
        "one organization, one day": {"start_date": today.isoformat(), "end_date": today.isoformat(),
                                      "organization_id": "org_042"},
        "all organizations, 30 days (master)": month,
        "all organizations, one day (master)": {"start_date": today.isoformat(), "end_date": today.isoformat()},
    }
    print(f"{'GET /ai/usage':40} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8}")
    with httpx.Client(headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=60) as client:
        for name, params in questions.items():
            answer = client.get(url, params=params)
            assert answer.status_code == 200, answer.text
            timings = []
            for _ in range(samples):
                started = time.perf_counter()
                client.get(url, params=params).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
            print(f"{name:40} {answer.json()['totals']['requests']:>9,} {statistics.median(timings):>8.1f} "
                  f"{percentile(timings, 95):>8.1f}")


if __name__ == "__main__":
    sys.exit(main())
