"""The simulator's HTTP app: one route per wire protocol, plus /sim/stats and /sim/reset."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.sse import DisconnectAwareStream
from simulator import anthropic_protocol, gemini_protocol, openai_protocol
from simulator.behaviour import Behaviour
from simulator.engine import SimEngine


def create_sim_app(ttft_ms: float = 0.0, token_delay_ms: float = 0.0) -> Starlette:
    engine = SimEngine(Behaviour(ttft_ms=ttft_ms, token_delay_ms=token_delay_ms))

    async def openai_chat(request: Request) -> Response | DisconnectAwareStream:
        return await engine.handle(openai_protocol, request)  # type: ignore[arg-type]

    async def anthropic_messages(request: Request) -> Response | DisconnectAwareStream:
        return await engine.handle(anthropic_protocol, request)  # type: ignore[arg-type]

    async def gemini_generate(request: Request) -> Response | DisconnectAwareStream:
        return await engine.handle(gemini_protocol, request)  # type: ignore[arg-type]

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(engine.stats.to_dict())

    async def reset(request: Request) -> JSONResponse:
        engine.reset()
        return JSONResponse({"ok": True})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/v1/messages", anthropic_messages, methods=["POST"]),
        # target: "model:generateContent"; Google serves both API versions, and SDKs pick either
        Route("/v1beta/models/{target}", gemini_generate, methods=["POST"]),
        Route("/v1/models/{target}", gemini_generate, methods=["POST"]),
        Route("/sim/stats", stats),
        Route("/sim/reset", reset, methods=["POST"]),
        Route("/health", health),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app
