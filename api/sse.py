"""A streaming response that notices a client disconnect at once, even while the stream is idle.

Starlette's StreamingResponse, under ASGI spec 2.4 servers, only learns of a disconnect on the next
write; a gateway waiting for a slow first token must cancel the job the moment the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no", "connection": "keep-alive"}


class DisconnectAwareStream:
    """ASGI response: sends `chunks` as they come; on disconnect cancels the iterator, then `on_disconnect`."""

    def __init__(self, chunks: AsyncIterator[bytes], headers: Mapping[str, str], status: int = 200,
                 media_type: str = "text/event-stream",
                 on_disconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        self._chunks = chunks
        self._status = status
        self._headers = [(b"content-type", media_type.encode())]
        self._headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = asyncio.ensure_future(self._write(send))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # server shutting down
            writer.cancel()
            watcher.cancel()
            raise
        if writer.done():
            watcher.cancel()
            error = writer.exception()
            if error is None:
                return
            if not isinstance(error, OSError):
                raise error
        else:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if self._on_disconnect is not None:
            await self._on_disconnect()

    async def _write(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self._status, "headers": self._headers})
        try:
            async for chunk in self._chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
