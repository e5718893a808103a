"""The provisioned Grafana dashboard and Prometheus config refer only to metrics tiergate exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import common.metrics  # noqa: F401  (registers every metric)
from common.metrics import SCRAPE_TIME_GAUGES

ROOT = Path(__file__).resolve().parents[2]


def _exported_names() -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    names = set(SCRAPE_TIME_GAUGES)
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_every_dashboard_query_uses_an_exported_metric() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/tiergate.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bllm_[a-z_]+", expr)}
    exported = _exported_names()
    assert used, "the dashboard has no queries"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("requests", "latency", "cost per organization", "tier mix", "cache hit rate", "queue depth"):
        assert topic in titles


def test_the_scrape_config_targets_the_api_and_every_tier_worker() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    targets = [f"{name}:{sd['port']}" for job in config["scrape_configs"] for sd in job["dns_sd_configs"]
               for name in sd["names"]]
    assert "api:4000" in targets
    assert {f"worker_tier{n}:9100" for n in range(1, 5)} <= set(targets)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"prometheus", "grafana"} <= set(compose["services"])
