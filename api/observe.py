"""What the API tells Prometheus and the dashboard (common/recent.py) about each request, from the client's side."""

from __future__ import annotations

import time

from common.metrics import ACTIVE, LATENCY, REQUESTS, TTFT
from common.recent import RECENT


def started(tier: str) -> None:
    ACTIVE.labels(tier).inc()


def ended(tier: str) -> None:
    ACTIVE.labels(tier).dec()


def answered(tier: str, model: str | None, status: int, received_at: float) -> None:
    """One request has its final status (refusals included: model "none")."""
    model = model or "none"
    REQUESTS.labels(model, tier, str(status)).inc()
    RECENT.answered(tier, status)
    if status < 400:
        LATENCY.labels(model, tier).observe(seconds := time.time() - received_at)
        RECENT.observe(tier, "latency", seconds)


def first_token(tier: str, model: str, received_at: float) -> None:
    TTFT.labels(model, tier).observe(seconds := time.time() - received_at)
    RECENT.observe(tier, "ttft", seconds)
