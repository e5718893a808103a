"""A worker's slots: how many jobs it holds (taken, not yet ended) against its concurrency (Celery's `-c`)."""

from __future__ import annotations

import asyncio


class Slots:
    """`room` is set while the worker may take more jobs; the consumer waits on it before each take."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.held = 0
        self.room = asyncio.Event()
        self.room.set()

    @property
    def free(self) -> int:
        return max(0, self.concurrency - self.held)

    def take(self) -> None:
        self.held += 1
        if self.held >= self.concurrency:
            self.room.clear()

    def give_back(self) -> None:
        self.held -= 1
        if self.held < self.concurrency:
            self.room.set()
