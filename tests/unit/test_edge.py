"""The edge of the app: whatever a handler does, the answer is OpenAI-shaped and carries an x-request-id."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from api.edge import RequestIdMiddleware, http_error
from common.metrics import REQUESTS


async def _broken(request: Request) -> Response:
    raise RuntimeError("a bug")


async def _fine(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _client() -> TestClient:
    app = Starlette(routes=[Route("/broken", _broken), Route("/fine", _fine, methods=["GET"])],
                    middleware=[Middleware(RequestIdMiddleware)], exception_handlers={HTTPException: http_error})
    return TestClient(app, raise_server_exceptions=False)


def _internal_errors() -> float:
    return REQUESTS.labels("none", "none", "500")._value.get()


def test_an_unexpected_exception_is_a_counted_openai_500_with_the_request_id() -> None:
    before = _internal_errors()
    response = _client().get("/broken")
    assert response.status_code == 500, f"expected 500, got {response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"] == "application/json"
    rid = response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["code"] == "internal_error" and error["type"] == "api_error" and rid in error["message"]
    assert _internal_errors() == before + 1


def test_unknown_routes_and_wrong_methods_are_openai_errors_and_every_answer_has_a_request_id() -> None:
    client = _client()
    missing, wrong, fine = client.get("/nope"), client.post("/fine"), client.get("/fine")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found", \
        f"got {missing.status_code}: {missing.text[:500]}"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed", \
        f"got {wrong.status_code}: {wrong.text[:500]}"
    assert "GET" in wrong.headers["allow"]
    ids = {r.headers["x-request-id"] for r in (missing, wrong, fine)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)
