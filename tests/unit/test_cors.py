"""CORS: only the configured origins get the headers; a preflight is answered before auth (it carries no key)."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from api.app import create_app
from config import load_settings

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml")
PREFLIGHT = {"access-control-request-method": "POST",
             "access-control-request-headers": "authorization, content-type, x-stainless-os"}


def app_with(origins: list[str]) -> TestClient:
    settings = SETTINGS.model_copy(update={"server": SETTINGS.server.model_copy(update={"cors_origins": origins})})
    # Not entered as a context manager: no lifespan, no Redis; the CORS layer answers before any route.
    return TestClient(create_app(settings, redis_address="redis://127.0.0.1:1/0"))


def test_a_preflight_from_an_allowed_origin_is_answered() -> None:
    response = app_with(["https://app.example.com"]).options(
        "/ai/chat/completions", headers={"origin": "https://app.example.com", **PREFLIGHT})
    assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.text[:500]}"
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "x-stainless-os" in response.headers["access-control-allow-headers"].lower()


def test_a_preflight_from_another_origin_gets_no_allowance() -> None:
    response = app_with(["https://app.example.com"]).options(
        "/ai/chat/completions", headers={"origin": "https://evil.example.com", **PREFLIGHT})
    assert response.status_code == 400 and "access-control-allow-origin" not in response.headers, \
        f"got {response.status_code}: {response.text[:500]}"


def test_no_origins_configured_means_no_cors_headers() -> None:
    assert SETTINGS.server.cors_origins == []
    response = app_with([]).options("/ai/chat/completions", headers={"origin": "https://app.example.com",
                                                                      **PREFLIGHT})
    assert "access-control-allow-origin" not in response.headers
