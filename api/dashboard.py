"""GET /ai/dashboard: a live page over GET /ai/queues (and GET /ai/usage), refreshing itself.

The page holds no data; it fetches it with the master key it is given, so serving it needs no key.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response


@cache
def _page() -> str:
    return resources.files("api").joinpath("static/dashboard.html").read_text(encoding="utf-8")


async def dashboard(request: Request) -> Response:
    return HTMLResponse(_page(), headers={"cache-control": "no-store"})
