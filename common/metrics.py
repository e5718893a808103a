"""Every Prometheus metric tiergate exports, defined once (the seed's names first).

API and worker processes on one host share PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess
mode) and the API's /metrics adds them up; a worker on another host serves its own (`--metrics-port`).
Labels are bounded: tier, model, organization, status, type — never request or user ids.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

from common.metrics_env import MULTIPROC_ENV

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# --- the seed's metrics --------------------------------------------------------------------------
REQUESTS = Counter("llm_requests", "Requests answered, by model, tier and HTTP status", ["model", "tier", "status"])
TOKENS = Counter("llm_tokens", "Tokens processed, by model, tier and type (prompt/completion)",
                 ["model", "tier", "type"])
LATENCY = Histogram("llm_latency_seconds", "Request latency seen by the client, by model and tier",
                    ["model", "tier"], buckets=_LATENCY_BUCKETS)
COST = Counter("llm_cost", "Accumulated cost in USD, by organization and model", ["organization", "model"])
ACTIVE = Gauge("llm_active_requests", "Requests in progress, by tier", ["tier"], multiprocess_mode="livesum")

# --- more of the path ----------------------------------------------------------------------------
TTFT = Histogram("llm_time_to_first_token_seconds", "Time to the first streamed chunk, by model and tier",
                 ["model", "tier"], buckets=(*_FAST_BUCKETS, 30, 60))
QUEUE_WAIT = Histogram("llm_queue_wait_seconds", "Time a job waited in its tier queue", ["tier"],
                       buckets=_FAST_BUCKETS)
RETRIES = Counter("llm_retries", "Provider calls retried on the same model", ["model"])
FALLBACKS = Counter("llm_fallbacks", "Moves to the next model of the chain after a failure", ["model"])
COOLDOWNS = Counter("llm_cooldowns", "Models put in cooldown after repeated failures", ["model"])
CACHE = Counter("llm_cache_requests", "Response cache lookups, by result (hit/miss)", ["result"])
BUDGET_ALERTS = Counter("llm_budget_alerts", "Budget thresholds crossed, by level (soft/hard)", ["level"])
LEDGER_LAG = Histogram("tiergate_ledger_lag_seconds",
                       "From a request's record entering the ledger stream to its commit in the database",
                       buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
LEDGER_RECORDS = Counter("tiergate_ledger_records", "Ledger stream entries committed to the database", [])
#: Read from Redis at scrape time by the API (one value per tier, whichever API process is scraped).
SCRAPE_TIME_GAUGES = {
    "llm_queue_depth": "Jobs waiting in each tier queue",
    "llm_live_workers": "Worker processes with a fresh heartbeat, by tier",
}


def gauge_lines(name: str, values: dict[str, float]) -> bytes:
    """Prometheus text for one of SCRAPE_TIME_GAUGES, labelled by tier."""
    lines = [f"# HELP {name} {SCRAPE_TIME_GAUGES[name]}", f"# TYPE {name} gauge"]
    lines += [f'{name}{{tier="{tier}"}} {value:g}' for tier, value in values.items()]
    return ("\n".join(lines) + "\n").encode()


def scrape_registry() -> CollectorRegistry | None:
    """The registry /metrics serves: all processes' files in multiprocess mode, else this process's own."""
    if not os.environ.get(MULTIPROC_ENV):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def mark_process_dead(pid: int) -> None:
    """Drop a gone process's live gauges (its counters stay counted)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
