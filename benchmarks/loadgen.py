"""Load generators: Debian's `wrk` (C, one thread, Lua script for POST bodies) for throughput and latency, and a
small asyncio client for time to first token, which wrk cannot see."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.upstream import ensure_binary

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

#: Stop after N answers (only when a count is asked for: the response callback makes wrk parse every answer).
@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_request: float | None = None  # CPU time of the system under test, per answered request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def success_rate(self) -> float:
        attempted = self.requests + self.error_kinds.get("timeout", 0) + self.error_kinds.get("connect", 0)
        return (self.requests - self.error_kinds.get("status", 0)) / attempted if attempted else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "seconds": round(self.seconds, 3), "rps": round(self.rps, 1),
                "p50_ms": round(self.p50_ms, 3), "p90_ms": round(self.p90_ms, 3), "p99_ms": round(self.p99_ms, 3),
                "errors": self.errors, "error_kinds": self.error_kinds, "success_rate": round(self.success_rate, 5),
                "cpu_ms_per_request": None if self.cpu_ms_per_request is None else round(self.cpu_ms_per_request, 3)}


def _lua_string(text: str) -> str:
    level = "=" * 3
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def wrk_script(path: Path, body: dict[str, Any], headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(json.dumps(body, ensure_ascii=False))}",
             'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    script = "\n".join(lines) + "\n" + _DONE
    path.write_text(script)
    return path


def run_wrk(url: str, body: dict[str, Any], headers: dict[str, str], connections: int, seconds: float,
            workdir: Path, timeout_s: float = 10.0) -> LoadResult:
    """wrk with one thread (the load generator's core is shared with the upstream) and `connections` clients."""
    binary = ensure_binary("wrk", "wrk")
    script = wrk_script(workdir / "wrk.lua", body, headers)
    argv = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s:g}s",
            "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    kinds = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return LoadResult(requests=raw["requests"], seconds=raw["duration_us"] / 1e6, p50_ms=raw["p50_us"] / 1000,
                      p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000, errors=sum(kinds.values()),
                      error_kinds=kinds)


# --- time to first token --------------------------------------------------------------------------


async def _first_token(client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> float:
    """Seconds from sending the request to the first chunk with content; the stream is read to its end."""
    started = time.perf_counter()
    first: float | None = None
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError(f"{url}: no content chunk in the stream")
    return first


async def first_tokens(url: str, body: dict[str, Any], headers: dict[str, str], count: int,
                       concurrency: int) -> list[float]:
    """`count` streams, `concurrency` at a time, over kept-alive connections."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    results: list[float] = []
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        remaining = count

        async def one_client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                results.append(await _first_token(client, url, body, headers))

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return results


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]
