"""Chaos, shortened for the suite (benchmarks/chaos.py runs the minute-long version): mixed sync and streaming load
while a tier's workers are SIGKILLed every few seconds and Redis restarts once; every promise of delivery holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos import run

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_under_killed_workers_and_a_redis_restart_every_request_ends_in_time_and_is_billed_once(
        tmp_path: Path) -> None:
    report = run(seconds=30, clients=12, kill_every=4.0, redis_restart_at=12.0, workdir=tmp_path)
    report.print()
    assert report.kills >= 5 and report.redis_restarted, "the faults were not all injected"
    assert report.answers > 100, f"too little load got through to prove anything: {report.answers} answers"
    assert report.failures == [], "\n".join(report.failures)
