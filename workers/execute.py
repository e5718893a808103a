"""Run one completion job: walk the model chain, publish the answer (or chunks) on the reply channel."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from common.errors import GatewayError
from common.jobs import JobEnvelope, encode_event
from common.pricing import usage_cost
from config import Deployment
from workers.http import call_stream, call_whole
from workers.providers import ProviderError, adapter_for

log = logging.getLogger("tiergate.worker")

Publish = Callable[[str, bytes], Awaitable[Any]]


@dataclass
class Attempt:
    model: str
    outcome: str  # "ok" or the error description
    seconds: float


@dataclass
class JobOutcome:
    model: str | None = None
    usage: dict[str, int] | None = None
    cost: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    status: int = 200


class StreamBroken(Exception):
    """The provider failed after the first chunk reached the client: no invisible fallback possible."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class JobRunner:
    def __init__(self, deployments: dict[str, Deployment], http: httpx.AsyncClient, publish: Publish,
                 default_timeout: float) -> None:
        self._deployments = deployments
        self._http = http
        self._publish = publish
        self._default_timeout = default_timeout

    async def run(self, job: JobEnvelope) -> JobOutcome | None:
        """Run the job to its end; None when it was already past its deadline (the API has answered 504)."""
        remaining = job.remaining()
        if remaining <= 0:
            log.info("job %s dropped: deadline passed before it started", job.id)
            return None
        outcome = JobOutcome()
        try:
            async with asyncio.timeout(remaining):
                await self._walk_chain(job, outcome)
        except TimeoutError:
            outcome.status = 504
            await self._error(job, GatewayError(504, "the request did not finish before its deadline",
                                                "deadline_exceeded"))
        except GatewayError as exc:
            outcome.status = exc.status
            await self._error(job, exc)
        return outcome

    async def _walk_chain(self, job: JobEnvelope, outcome: JobOutcome) -> None:
        last: ProviderError | None = None
        for name in job.models:
            deployment = self._deployments.get(name)
            if deployment is None:
                continue
            started = time.monotonic()
            try:
                await self._call(job, deployment, outcome)
                outcome.attempts.append(Attempt(name, "ok", time.monotonic() - started))
                return
            except StreamBroken as exc:
                outcome.attempts.append(Attempt(name, exc.error.describe(), time.monotonic() - started))
                raise GatewayError(502, f"the provider stream of {name} broke: {exc.error.message}",
                                   "stream_interrupted") from None
            except ProviderError as exc:
                outcome.attempts.append(Attempt(name, exc.describe(), time.monotonic() - started))
                log.warning("job %s: %s failed: %s", job.id, name, exc.describe())
                if exc.kind == "bad_request":
                    raise GatewayError(400, f"{name} rejected the request: {exc.message}",
                                       "provider_bad_request") from None
                last = exc
        detail = f" (last: {last.describe()})" if last else ""
        raise GatewayError(503, f"every model of the chain failed{detail}", "all_models_failed",
                           retry_after=last.retry_after if last else None)

    async def _call(self, job: JobEnvelope, deployment: Deployment, outcome: JobOutcome) -> None:
        timeout = min(job.remaining(), deployment.timeout or self._default_timeout)
        adapter = adapter_for(deployment.protocol)
        if not job.stream:
            completion = await call_whole(self._http, adapter, deployment, job.body, timeout)
            completion["id"] = f"chatcmpl-{job.id}"
            self._settle(outcome, deployment, completion.get("usage"))
            await self._publish(job.reply_to, encode_event(job.id, "result", completion=completion,
                                                           model=deployment.name, cost=outcome.cost))
            return
        translator = adapter.stream_translator(deployment, f"chatcmpl-{job.id}", int(time.time()))
        started = False
        try:
            async for chunks in call_stream(self._http, adapter, deployment, job.body, timeout, translator):
                if not started:
                    started = True
                    await self._publish(job.reply_to, encode_event(job.id, "start", model=deployment.name))
                await self._publish(job.reply_to, encode_event(job.id, "chunk", chunks=chunks))
        except ProviderError as exc:
            if started:
                raise StreamBroken(exc) from exc
            raise
        self._settle(outcome, deployment, translator.usage)
        await self._publish(job.reply_to, encode_event(job.id, "end", model=deployment.name,
                                                       usage=outcome.usage, cost=outcome.cost))

    @staticmethod
    def _settle(outcome: JobOutcome, deployment: Deployment, usage: dict[str, int] | None) -> None:
        outcome.model = deployment.name
        outcome.usage = usage
        outcome.cost = usage_cost(usage, deployment.input_cost_per_token, deployment.output_cost_per_token)

    async def _error(self, job: JobEnvelope, error: GatewayError) -> None:
        await self._publish(job.reply_to, encode_event(job.id, "error", **error.to_event()))
