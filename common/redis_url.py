"""Where Redis is: REDIS_URL, else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD (the seed's names)."""

from __future__ import annotations

import os
from urllib.parse import quote


def redis_url(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    host = env.get("REDIS_HOST", "127.0.0.1")
    port = env.get("REDIS_PORT", "6379")
    password = env.get("REDIS_PASSWORD")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"


def broker_url(url: str) -> str:
    """The URL as kombu spells it: Redis over a Unix socket is `unix:///path` to redis-py, `redis+socket:///path`
    to kombu (database 0; our keys live there)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://").split("?", 1)[0]
    return url
