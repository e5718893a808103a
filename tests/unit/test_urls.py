"""Server URLs in logs and messages: Redis and database credentials never show, the rest does."""

from __future__ import annotations

import pytest

from common.urls import redacted


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@redis:6379/0", "redis://***@redis:6379/0"),
    ("redis://:p@ss@redis:6379/0", "redis://***@redis:6379/0"),  # an unencoded @ in the password
    ("postgresql://tiergate:s3cret@db:5432/tiergate", "postgresql://***@db:5432/tiergate"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("sqlite+aiosqlite:////data/a@b/tiergate.db", "sqlite+aiosqlite:////data/a@b/tiergate.db"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_a_url_is_shown_without_its_credentials(url: str, shown: str) -> None:
    assert redacted(url) == shown, f"expected {shown!r} for {url!r}, got {redacted(url)!r}"
