"""What "a worker is alive" means, defined once: for the worker that proves it (workers/heartbeat.py), the API
that routes to it (api/jobs.py, api/inspection.py) and the watchdogs that rescue its jobs (common/inflight.py).

A worker beats every BEAT_SECONDS on a connection of its own; one silent for DEAD_AFTER_SECONDS (five missed
beats) is dead: its jobs are rescued and its leases taken over, so it may publish and bill nothing more
(common/lease.py) even if it was only slow.
"""

from __future__ import annotations

BEAT_SECONDS = 2.0
DEAD_AFTER_SECONDS = 10


def live_since(now: float) -> float:
    """The oldest heartbeat (epoch s) of a worker still alive at `now`."""
    return now - DEAD_AFTER_SECONDS
