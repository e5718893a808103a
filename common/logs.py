"""How every tiergate process logs: a readable line (`text`) or one JSON object per line (`json`).

A record may carry structured fields (`extra={"fields": {...}}`): JSON lines hold them as keys, text lines
after the message as `key=value`. The roles read their choice from the environment, so the processes a
command starts (uvicorn's workers, Celery's) log alike.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson

FORMAT_ENV = "TIERGATE_LOG_FORMAT"
LEVEL_ENV = "TIERGATE_LOG_LEVEL"
REQUEST_LOG_ENV = "TIERGATE_LOG_REQUESTS"  # "0": no line per request
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if not fields:
            return text
        skip = getattr(record, "text_skip", ())
        return text + " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items()
                                     if v is not None and k not in skip)


def _text_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.9f}".rstrip("0").rstrip(".")
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if text and " " not in text and '"' not in text else orjson.dumps(text).decode()


def configure(log_format: str | None = None, level: str | None = None) -> None:
    """Send every logger to stderr in the chosen format (idempotent: the last call wins)."""
    log_format = log_format or os.environ.get(FORMAT_ENV, "text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get(LEVEL_ENV, "INFO")).upper())
