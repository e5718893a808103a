"""Recent per-tier figures for the dashboard: latency, time to first token and queue wait as histograms, and
request and error counts, in 10-second buckets kept for 15 minutes.

Each process adds up its own observations in memory (a dict increment per request, no Redis round trip on
the hot path) and adds them to Redis every couple of seconds in one pipeline (HINCRBY: N processes add up).
The API observes what its clients saw (latency, TTFT, status); the workers observe queue wait.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common import keys

BUCKET_SECONDS = 10
KEEP_SECONDS = 15 * 60
#: Upper bounds (seconds) of the histogram cells; the last cell holds everything slower.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
          15.0, 30.0, 60.0, 120.0)
KINDS = ("latency", "ttft", "wait")


def bucket_of(now: float) -> int:
    return int(now) // BUCKET_SECONDS * BUCKET_SECONDS


class RecentFigures:
    """This process's observations not yet added to Redis."""

    def __init__(self) -> None:
        self._pending: defaultdict[tuple[str, int], defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    def observe(self, tier: str, kind: str, seconds: float, now: float | None = None) -> None:
        cell = bisect.bisect_left(BOUNDS, seconds)
        self._pending[(tier, bucket_of(now or time.time()))][f"{kind}:{cell}"] += 1

    def answered(self, tier: str, status: int, now: float | None = None) -> None:
        """A request of `tier` ended with `status`; 5xx are the tier's errors (4xx are the caller's)."""
        counts = self._pending[(tier, bucket_of(now or time.time()))]
        counts["requests"] += 1
        if status >= 500:
            counts["errors"] += 1

    def flush_into(self, pipe: Any) -> int:
        """Queue the pending counts on `pipe` (the caller runs it) and forget them; the number of keys written."""
        pending, self._pending = self._pending, defaultdict(lambda: defaultdict(int))
        for (tier, bucket), counts in pending.items():
            key = keys.recent_figures(tier, bucket)
            for field, count in counts.items():
                pipe.hincrby(key, field, count)
            pipe.expire(key, KEEP_SECONDS + BUCKET_SECONDS)
        return len(pending)


#: The process's figures (one per process, like the Prometheus registry).
RECENT = RecentFigures()


def percentile(cells: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram {cell: count}, interpolated within its cell; None when empty."""
    total = sum(cells.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for cell in sorted(cells):
        count = cells[cell]
        if seen + count >= rank:
            low = BOUNDS[cell - 1] if cell > 0 else 0.0
            high = BOUNDS[cell] if cell < len(BOUNDS) else BOUNDS[-1] * 2
            return low + (high - low) * ((rank - seen) / count)
        seen += count
    return BOUNDS[-1] * 2


def summarise(raw_buckets: Iterable[tuple[int, Mapping[bytes, bytes]]]) -> dict[str, Any]:
    """Series (one point per bucket: requests, errors, p50/p95 latency) and the window's p50/p95 of each kind."""
    series = []
    window: dict[str, defaultdict[int, int]] = {kind: defaultdict(int) for kind in KINDS}
    for bucket, raw in raw_buckets:
        fields = {k.decode(): int(v) for k, v in raw.items()}
        latency: defaultdict[int, int] = defaultdict(int)
        for name, count in fields.items():
            kind, _, cell = name.partition(":")
            if kind in window:
                window[kind][int(cell)] += count
                if kind == "latency":
                    latency[int(cell)] += count
        series.append({"time": bucket, "requests": fields.get("requests", 0), "errors": fields.get("errors", 0),
                       "latency_p50": _ms(percentile(latency, 0.5)), "latency_p95": _ms(percentile(latency, 0.95))})
    summary = {f"{kind}_{name}_ms": _ms(percentile(window[kind], q))
               for kind in KINDS for name, q in (("p50", 0.5), ("p95", 0.95))}
    requests = sum(point["requests"] for point in series)
    errors = sum(point["errors"] for point in series)
    summary["requests"] = requests
    summary["error_rate"] = round(errors / requests, 4) if requests else 0.0
    return {"series": series, **summary}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or math.isnan(seconds) else round(seconds * 1000, 1)


async def flush_forever(client: aioredis.Redis, interval: float = 2.0) -> None:
    """The API's flusher (workers flush with their heartbeat); a Redis error loses only those seconds' figures."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with client.pipeline(transaction=False) as pipe:
                if RECENT.flush_into(pipe):
                    await pipe.execute()
        except (RedisError, OSError):
            pass
