"""Setting up prometheus_client's multiprocess mode. Kept apart from common/metrics.py because the
environment variable must be set before prometheus_client is first imported in a process."""

from __future__ import annotations

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: str | Path) -> None:
    """An empty directory for this run's metric files (stale files from a previous run would be summed)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
