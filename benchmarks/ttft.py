"""Time to first token through the gateway vs directly from the simulator (median of N sequential streams).

    .venv/bin/python -m benchmarks.ttft [--requests 100] [--ttft-ms 50]

Starts its own redis-server, simulator, one worker process and one API process (tests/harness.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.harness import Gateway, RedisProcess


def first_token_seconds(client: httpx.Client, url: str, body: dict, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    elapsed = None
    with client.stream("POST", url, json=body, headers=headers) as response:
        for line in response.iter_lines():  # read to the end so the connection is reused
            if elapsed is None and line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                elapsed = time.perf_counter() - started
    if elapsed is None:
        raise RuntimeError("no content token in the stream")
    return elapsed


def measure(client: httpx.Client, url: str, body: dict, headers: dict[str, str], count: int) -> list[float]:
    for _ in range(5):  # warm connections and the worker's pool
        first_token_seconds(client, url, body, headers)
    return [first_token_seconds(client, url, body, headers) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--ttft-ms", type=float, default=50)
    args = parser.parse_args()
    redis = RedisProcess.start()
    gateway = Gateway(Path(tempfile.mkdtemp()), redis).start()
    try:
        text = f"[sim ttft_ms={args.ttft_ms:g} token_delay_ms=5 tokens=20] Olá, qual o prazo de entrega?"
        messages = [{"role": "user", "content": text}]
        with httpx.Client(timeout=30) as client:
            # Interleave the two so machine noise hits both alike.
            direct, through = [], []
            for _ in range(args.requests // 10):
                direct += measure(client, f"{gateway.sim_url}/v1/chat/completions",
                                  {"model": "gpt-4", "messages": messages, "stream": True}, {}, 10)
                through += measure(client, f"{gateway.ai_url}/chat/completions",
                                   {"model": "tier2", "messages": messages, "stream": True}, gateway.headers(), 10)
    finally:
        gateway.stop()
        redis.stop()
    d50, g50 = statistics.median(direct) * 1000, statistics.median(through) * 1000
    d99 = statistics.quantiles(direct, n=100)[98] * 1000
    g99 = statistics.quantiles(through, n=100)[98] * 1000
    print(f"time to first token, {len(direct)} streams each, simulator ttft {args.ttft_ms:g} ms")
    print(f"{'':12}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'direct':12}{d50:10.2f}{d99:10.2f}")
    print(f"{'gateway':12}{g50:10.2f}{g99:10.2f}")
    print(f"{'overhead':12}{g50 - d50:10.2f}{g99 - d99:10.2f}")


if __name__ == "__main__":
    main()
