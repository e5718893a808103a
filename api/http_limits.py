"""Limits the HTTP server enforces before the application sees a request: header size and header time.

uvicorn's httptools protocol (the fast one) bounds neither: a 1 MB header is read whole, and a client that
sends half its headers holds the connection forever. This subclass bounds both and answers in the OpenAI
error format. Body limits (size, time) live where the body is read (api/completions.py `read_body`).
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.errors import error_body

#: Import string for uvicorn's `http=` (each API process imports it by name).
PROTOCOL = "api.http_limits:LimitedHttpToolsProtocol"


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a cap on the request line + headers, and a deadline for them to arrive."""

    max_header_bytes = 32 * 1024
    header_timeout_seconds = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what follows a refusal is read and dropped until the connection closes
        super().data_received(data)
        if self._header_timer is not None and not self.transport.is_closing():  # still reading headers
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, f"the request line and headers are over the {self.max_header_bytes} byte limit",
                             "request_headers_too_large")

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "the request is not valid HTTP/1.1", "invalid_http")

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._header_bytes = 0
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request's headers get the same deadline

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered (headers complete); its own deadlines apply
        if self._header_bytes:
            self._refuse(408, f"the request headers did not arrive within {self.header_timeout_seconds:g}s",
                         "request_timeout")
        else:
            self.transport.close()  # an idle connection: nothing to answer

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer in the OpenAI format and close: the rest of the connection's bytes cannot be trusted. Our side
        is shut first and the socket closed a second later, so the client reads the answer rather than a reset
        (closing with its unread bytes pending would send one)."""
        body = orjson.dumps(error_body(status, message, code))
        reason = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"x-request-id: %s\r\nconnection: close\r\n\r\n"
                % (status, reason, len(body), uuid.uuid4().hex.encode()))
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        self._cancel_header_timer()
        self.transport.write(head + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(1.0, self.transport.close)
        else:
            self.transport.close()


def configure(max_header_bytes: int, header_timeout_seconds: float) -> None:
    """Set the limits from the config (called in each API process as its app is built)."""
    LimitedHttpToolsProtocol.max_header_bytes = max_header_bytes
    LimitedHttpToolsProtocol.header_timeout_seconds = header_timeout_seconds

