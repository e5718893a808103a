"""The dashboard's recent figures (common/recent.py): histogram percentiles and per-bucket series."""

from __future__ import annotations

import fakeredis
import pytest

from common import keys
from common.recent import BUCKET_SECONDS, RecentFigures, percentile, summarise


def test_percentiles_of_a_histogram_fall_in_the_right_cell() -> None:
    figures = RecentFigures()
    for seconds in [0.04] * 90 + [1.2] * 10:  # 90 fast answers, 10 slow ones
        figures.observe("tier1", "latency", seconds, now=1000)
    server = fakeredis.FakeRedis()
    pipe = server.pipeline()
    assert figures.flush_into(pipe) == 1
    pipe.execute()
    raw = server.hgetall(keys.recent_figures("tier1", 1000))
    cells = {int(k.decode().split(":")[1]): int(v) for k, v in raw.items()}
    assert 0.025 < percentile(cells, 0.5) <= 0.05  # type: ignore[operator]
    assert 1.0 < percentile(cells, 0.95) <= 1.5  # type: ignore[operator]
    assert percentile({}, 0.5) is None


def test_processes_add_up_and_errors_are_the_5xx() -> None:
    server = fakeredis.FakeRedis()
    for statuses in ([200, 200, 503], [200, 429, 504]):  # two API processes
        figures = RecentFigures()
        for status in statuses:
            figures.answered("tier2", status, now=2000 + 3)
        pipe = server.pipeline()
        figures.flush_into(pipe)
        pipe.execute()
        assert figures.flush_into(server.pipeline()) == 0, "flushed figures are not sent twice"
    buckets = [(2000 - BUCKET_SECONDS, {}), (2000, server.hgetall(keys.recent_figures("tier2", 2000)))]
    summary = summarise(buckets)
    assert [p["requests"] for p in summary["series"]] == [0, 6]
    assert summary["requests"] == 6 and summary["error_rate"] == pytest.approx(2 / 6, abs=1e-4)
    assert summary["latency_p95_ms"] is None
