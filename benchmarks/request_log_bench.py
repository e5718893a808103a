"""CPU cost per request of the request log (api/request_log.py) and the dashboard's figures (common/recent.py),
in process: the middleware around a handler that answers at once, logging to /dev/null.

    .venv/bin/python -m benchmarks.request_log_bench [--requests 30000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

from api.request_log import RequestLogMiddleware, note
from common import logs
from common.recent import RecentFigures

HEADERS = [(b"x-gateway-tier", b"tier1"), (b"x-gateway-model", b"tier1/llama-3.2-3b"),
           (b"x-gateway-route-reason", b"intent greeting (detected: ola) -> tier1; complexity 0.0 (4 chars)"),
           (b"x-gateway-cache", b"MISS"), (b"x-gateway-cost-usd", b"0.000003000")]
SCOPE = {"type": "http", "path": "/ai/chat/completions", "method": "POST", "tiergate.request_id": "0" * 32}


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    note(organization="org_123")
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(message: Any) -> None:
    return None


async def _receive() -> Any:
    return {}


async def _per_request_us(app: Any, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await app(SCOPE, _receive, _send)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30000)
    args = parser.parse_args()
    for log_format in ("text", "json"):
        logs.configure(log_format, level="WARNING")
        logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115 (kept for the run)
        bare = asyncio.run(_per_request_us(_answer, args.requests))
        logged = asyncio.run(_per_request_us(RequestLogMiddleware(_answer), args.requests))
        print(f"request log ({log_format}): {logged - bare:.1f} us CPU per request (handler alone {bare:.1f} us)")
    figures = RecentFigures()
    started = time.process_time()
    for _ in range(args.requests):
        figures.answered("tier1", 200)
        figures.observe("tier1", "latency", 0.05)
    print(f"dashboard figures: {(time.process_time() - started) / args.requests * 1e6:.2f} us CPU per request")


if __name__ == "__main__":
    main()
