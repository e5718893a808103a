"""What the simulator saw, for tests and benchmarks: GET /sim/stats."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimStats:
    requests: int = 0
    by_model: Counter[str] = field(default_factory=Counter)
    by_directive: Counter[str] = field(default_factory=Counter)
    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0
    active_streams: int = 0
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))

    def record(self, protocol: str, model: str, body: dict[str, Any], directive: str | None = None) -> None:
        self.requests += 1
        self.by_model[model] += 1
        if directive:
            self.by_directive[f"{directive} {model}"] += 1
        self.recent.append({"protocol": protocol, "model": model, "body": body})

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "by_model": dict(self.by_model),
            "by_directive": dict(self.by_directive),  # "[sim …] model-id": calls, to count each test's tries
            "streams_started": self.streams_started, "streams_completed": self.streams_completed,
            "streams_cancelled": self.streams_cancelled, "active_streams": self.active_streams,
            "recent": list(self.recent),
        }
