"""Hostile input over HTTP: every answer is OpenAI-shaped with an x-request-id, nothing hangs, nothing leaks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Gateway, RedisProcess
from tests.integration.gateway_state import assert_openai_error, assert_unchanged, org_state

pytestmark = pytest.mark.integration

ORG = "org_tight"
HELLO = [{"role": "user", "content": "Olá!"}]
LIMITS = {"header_timeout_seconds": 1.5, "body_timeout_seconds": 1.5, "max_header_bytes": 16 * 1024}


@pytest.fixture(scope="module")
def tight(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    overrides = {"server": LIMITS, "plans": {"tight": {"max_tier": 4, "rpm": 1000, "max_concurrent": 2}},
                 "organizations": {ORG: {"plan": "tight"}}}
    running = Gateway(Path(tmp_path_factory.mktemp("hostile")), own_redis, config_overrides=overrides).start()
    yield running
    running.stop()


def _post(gateway: Gateway, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{gateway.ai_url}/chat/completions", json=body, headers=gateway.headers(), timeout=10,
                      **kwargs)


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


def _raw_exchange(gateway: Gateway, payload: bytes, wait: float = 10.0) -> tuple[bytes, float]:
    """Send bytes on a fresh connection, then read until the server closes it; (answer, seconds taken)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.api_port), timeout=wait) as conn:
        conn.sendall(payload)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def _status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nope", 404), ("POST", "/ai/chat/completions/extra", 404), ("GET", "/ai/chat/completions", 405),
    ("DELETE", "/ai/models", 405), ("PUT", "/metrics", 405),
])
def test_unknown_routes_and_wrong_methods_answer_in_openai_format_with_a_request_id(
        tight: Gateway, method: str, path: str, status: int) -> None:
    response = httpx.request(method, f"{tight.base_url}{path}", headers=tight.headers())
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    assert_openai_error(response)
    if status == 405:
        assert "allow" in response.headers


@pytest.mark.parametrize("path", ["/health/liveness", "/ai/models", "/metrics", "/health/readiness"])
def test_every_answer_carries_a_request_id(tight: Gateway, path: str) -> None:
    response = httpx.get(f"{tight.base_url}{path}", headers=tight.headers())
    assert len(response.headers.get("x-request-id", "")) == 32, response.headers


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": HELLO, "metadata": {"organization_id": ORG, "extra": _nested(300)}}, None),
    ({"messages": HELLO, "metadata": {"organization_id": ORG, "extra": _nested(20)}}, "metadata.extra.k.k.k.k.k.k.k"),
    ({"messages": HELLO, "logit_bias": _nested(260)}, None),
    ({"messages": HELLO, "tools": [{"type": "function", "function": {"name": "f", "parameters": _nested(255)}}]},
     None),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": _nested(254)}]}]}, None),
    ({"messages": [{"role": [], "content": "oi"}]}, "messages[0].role"),
    ({"messages": [{"role": {"x": 1}, "content": "oi"}]}, "messages[0].role"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": True}]}, "messages[0].tool_calls"),
    ({"messages": HELLO, "stop": ""}, "stop"),
    ({"messages": HELLO, "stop": []}, "stop"),
    ({"messages": HELLO, "top_logprobs": 3}, "top_logprobs"),
    ({"messages": HELLO, "logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 7}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
    ({"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
     "response_format.json_schema.name"),
])
def test_bodies_that_once_crashed_the_gateway_get_a_400_and_take_nothing(
        tight: Gateway, body: dict[str, Any], param: str | None) -> None:
    body = {**body, "metadata": {"organization_id": ORG, **body.get("metadata", {})}}
    before = org_state(tight, ORG)
    response = _post(tight, body)
    assert response.status_code == 400, response.text
    error = assert_openai_error(response)
    if param:
        assert error["param"] == param, error
    assert_unchanged(before, org_state(tight, ORG))


def test_a_megabyte_header_gets_431_and_the_connection_is_closed(tight: Gateway) -> None:
    payload = (b"GET /health/liveness HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
    answer, _ = _raw_exchange(tight, payload)
    status, body = _status_and_body(answer)
    assert status == 431, answer[:300]
    assert b'"request_headers_too_large"' in body


def test_a_body_shorter_than_its_content_length_gets_408_after_the_body_timeout(tight: Gateway) -> None:
    body = b'{"messages": ['
    payload = (b"POST /ai/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-master-key\r\n"
               b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n" + body)
    answer, seconds = _raw_exchange(tight, payload)
    status, response = _status_and_body(answer)
    assert status == 408, answer[:300]
    assert b'"request_timeout"' in response and b"x-request-id" in answer.lower()
    assert 1.4 <= seconds < 5, f"the connection was held {seconds:.1f}s (body timeout 1.5 s)"


def test_headers_that_never_finish_get_408_after_the_header_timeout(tight: Gateway) -> None:
    answer, seconds = _raw_exchange(tight, b"POST /ai/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    status, response = _status_and_body(answer)
    assert status == 408 and b'"request_timeout"' in response, answer[:300]
    assert seconds < 5, f"the connection was held {seconds:.1f}s (header timeout 1.5 s)"


def test_bytes_that_are_not_http_get_an_openai_400_and_the_connection_is_closed(tight: Gateway) -> None:
    answer, seconds = _raw_exchange(tight, b"\x16\x03\x01 not http at all\r\n\r\n")
    status, response = _status_and_body(answer)
    assert status == 400 and b'"invalid_http"' in response, answer[:300]
    assert seconds < 5


def test_a_silent_connection_is_closed_after_the_header_timeout(tight: Gateway) -> None:
    answer, seconds = _raw_exchange(tight, b"")
    assert answer == b"" and seconds < 5


def test_requests_ending_in_504_give_back_their_slots_and_the_active_gauge(tight: Gateway) -> None:
    slow = {"messages": [{"role": "user", "content": "[sim ttft_ms=3000] oi"}], "timeout": 0.3,
            "metadata": {"organization_id": ORG}}
    with ThreadPoolExecutor(2) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: _post(tight, slow), range(2))]
    assert statuses == [504, 504]
    quick = {"messages": HELLO, "metadata": {"organization_id": ORG}}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _post(tight, quick), range(2)))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    deadline = time.monotonic() + 5
    while org_state(tight, ORG)["active_gauge"] and time.monotonic() < deadline:
        time.sleep(0.05)
    state = org_state(tight, ORG)
    assert state["active_gauge"] == 0 and state["slots"] == 0, state
