"""Run one completion job: walk the model chain, publish the answer (or chunks) on the reply channel.

Retry, backoff, cooldown and balancing decisions live in resilience.py; this module carries them out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.errors import GatewayError, deadline_exceeded
from common.jobs import JobEnvelope, encode_event, encode_sse
from common.metrics import FALLBACKS, RETRIES
from common.pricing import usage_cost
from common.sse import sse_data
from config import Deployment
from workers.http import Client, call_stream, call_whole
from workers.providers import ProviderError, adapter_for
from workers.providers.fanout import stream_translator
from workers.resilience import NOT_THE_MODELS_FAULT, Resilience

log = logging.getLogger("tiergate.worker")

class Publish(Protocol):
    """Publish a job's events, in order, on its reply channel (one round trip for all of them)."""

    def __call__(self, job: JobEnvelope, *events: bytes) -> Awaitable[Any]: ...


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
    # What reached the client so far, so a cancelled stream is billed for what was generated:
    streamed_chunks: int = 0
    answer_parts: list[str] = field(default_factory=list)
    # For the response cache: the whole answer of a sync job; how a stream ended.
    completion: dict[str, Any] | None = None
    finish_reason: str | None = None
    streamed_tool_calls: bool = False
    # The last event of a job that succeeded (a sync answer's "result", a stream's "end"), published with the
    # job's end and its usage in one round trip (workers/runtime.py): a worker killed before then has neither
    # sent nor billed it (a sync job is re-run; a stream is cut, and billed by the API for what it relayed).
    last_event: bytes | None = None

    @property
    def answer(self) -> str:
        return "".join(self.answer_parts)

    def relayed(self, chunks: list[dict[str, Any]]) -> None:
        for chunk in chunks:
            if chunk.get("choices"):
                choice = chunk["choices"][0]
                delta = choice.get("delta") or {}
                self.streamed_chunks += 1
                self.answer_parts.append(delta.get("content") or "")
                self.streamed_tool_calls = self.streamed_tool_calls or bool(delta.get("tool_calls"))
                self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def forget_answer(self) -> None:
        """An answer that will not be sent (the job was cancelled once it was made) is not billed: a sync answer
        not at all, a stream for the chunks it relayed (workers/accounting.py)."""
        self.usage, self.cost, self.completion, self.last_event = None, 0.0, None, None

    def note(self, model: str, outcome: str, started: float) -> None:
        """One try of one model, with what came of it and how long it took (monotonic `started`)."""
        self.attempts.append(Attempt(model, outcome, round(time.monotonic() - started, 4)))


@dataclass
class ChainWalk:
    """What walking the chain has learnt so far."""

    last: ProviderError | None = None
    context_error: ProviderError | None = None
    context_floor: int | None = None  # after a context-length error: only larger windows are worth a try
    cooling: list[str] = field(default_factory=list)

    def fits(self, deployment: Deployment) -> bool:
        return self.context_floor is None or (deployment.max_input_tokens or 0) > self.context_floor

    def failed(self, deployment: Deployment, error: ProviderError) -> None:
        self.last = error
        if error.kind == "context_length":
            self.context_error = error
            self.context_floor = max(self.context_floor or 0, deployment.max_input_tokens or 0)


class StreamBroken(Exception):
    """The provider failed after the first chunk reached the client: no invisible fallback possible."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class JobRunner:
    def __init__(self, deployments: dict[str, Deployment], http: Client, publish: Publish,
                 resilience: Resilience) -> None:
        self._deployments = deployments
        self._http = http
        self._publish = publish
        self._resilience = resilience

    async def run(self, job: JobEnvelope, outcome: JobOutcome | None = None,
                  cooldowns: Mapping[str, bytes | None] | None = None) -> JobOutcome | None:
        """Run the job to its end; None when it was already past its deadline (the API has answered 504).

        Pass `outcome` to keep what was learnt if the job is cancelled half-way, `cooldowns` for the models'
        cooldown state when it was read already (Cooldowns.state_keys)."""
        remaining = job.remaining()
        if remaining <= 0:
            log.info("job %s dropped: deadline passed before it started", job.id)
            return None
        outcome = outcome if outcome is not None else JobOutcome()
        try:
            async with asyncio.timeout(remaining):
                await self._walk_chain(job, outcome, cooldowns)
        except TimeoutError:
            outcome.status = 504
            await self._error(job, deadline_exceeded())
        except GatewayError as exc:
            outcome.status = exc.status
            await self._error(job, exc)
        return outcome

    async def _walk_chain(self, job: JobEnvelope, outcome: JobOutcome,
                          cooldowns: Mapping[str, bytes | None] | None) -> None:
        """Each model of the chain in turn (balanced within the tier), skipping those cooling down."""
        walk = ChainWalk()
        for name in await self._resilience.balancer.order(list(job.models), job.tier):
            deployment = self._deployments.get(name)
            if deployment is None or not walk.fits(deployment):
                continue
            admission = await self._resilience.cooldowns.admit(name, cooldowns)
            if not admission.allowed:
                log.info("job %s: %s skipped, cooling down", job.id, name)
                walk.cooling.append(name)
                continue
            error = await self._try_model(job, deployment, outcome, admission.probing)
            if error is None:
                return
            walk.failed(deployment, error)
        raise await self._exhausted(walk)

    async def _try_model(self, job: JobEnvelope, deployment: Deployment, outcome: JobOutcome,
                         probing: bool) -> ProviderError | None:
        """Call one model, retrying what is worth retrying; None when it answered, else its last error."""
        name, resilience = deployment.name, self._resilience
        retries = 0
        while True:
            started = time.monotonic()
            try:
                latency = await self._call(job, deployment, outcome)
            except StreamBroken as exc:
                outcome.note(name, exc.error.describe(), started)
                await resilience.cooldowns.failed(name, probing)
                raise GatewayError(502, f"the provider stream of {name} broke: {exc.error.message}",
                                   "stream_interrupted") from None
            except ProviderError as exc:
                outcome.note(name, exc.describe(), started)
                log.warning("job %s: %s failed: %s", job.id, name, exc.describe(),
                            extra={"fields": {"request_id": job.id, "model": name, "error": exc.kind}})
                cooling = exc.kind not in NOT_THE_MODELS_FAULT and await resilience.cooldowns.failed(name, probing)
                delay = resilience.policy.delay(retries, exc)
                step = "next_model" if cooling else resilience.policy.after(exc, retries, job.remaining(), delay)
                if step == "give_up":
                    raise GatewayError(400, f"{name} rejected the request: {exc.message}",
                                       "provider_bad_request") from None
                if step != "retry":
                    FALLBACKS.labels(name).inc()
                    log.warning("job %s: leaving %s for the next model of the chain", job.id, name,
                                extra={"fields": {"request_id": job.id, "model": name, "fallback": True}})
                    return exc
                RETRIES.labels(name).inc()
                await asyncio.sleep(delay)
                retries += 1
                continue
            except asyncio.CancelledError:
                outcome.note(name, "cancelled: deadline reached or client gone", started)
                raise
            outcome.note(name, "ok", started)
            await resilience.cooldowns.succeeded(name, probing)
            await resilience.balancer.record_latency(name, latency)
            return None

    async def _exhausted(self, walk: ChainWalk) -> GatewayError:
        """The error for a chain that produced no answer."""
        if walk.context_error is not None and walk.last is walk.context_error:
            return GatewayError(400, "the conversation is longer than the context window of every model "
                                     f"that could take it ({walk.context_error.message})", "context_length_exceeded")
        wait = await self._resilience.cooldowns.seconds_left(walk.cooling)
        if walk.last is None:
            return GatewayError(503, "every model of the chain is cooling down after repeated failures",
                                "all_models_cooling_down", retry_after=max(1.0, round(wait or 1.0)))
        retry_after = walk.last.retry_after if walk.last.retry_after is not None else wait
        return GatewayError(503, f"every model of the chain failed (last: {walk.last.describe()})",
                            "all_models_failed", retry_after=retry_after)

    async def _call(self, job: JobEnvelope, deployment: Deployment, outcome: JobOutcome) -> float:
        """One provider call; returns its latency (to the whole answer, or to the first chunk of a stream)."""
        started_at = time.monotonic()
        timeout = min(job.remaining(), deployment.timeout or self._resilience.attempt_timeout)
        adapter = adapter_for(deployment.protocol)
        if not job.stream:
            completion = await call_whole(self._http, adapter, deployment, job.body, timeout)
            completion["id"] = f"chatcmpl-{job.id}"
            self._settle(outcome, deployment, completion.get("usage"))
            outcome.answer_parts = [str(c.get("message", {}).get("content") or "") for c in completion["choices"]]
            outcome.completion = completion
            outcome.last_event = encode_event(job.id, "result", completion=completion, model=deployment.name,
                                              cost=outcome.cost)
            return time.monotonic() - started_at
        translator = stream_translator(adapter, deployment, job.body, f"chatcmpl-{job.id}", int(time.time()))
        started = False
        latency = 0.0
        finishing: dict[str, Any] | None = None
        try:
            async for chunks in call_stream(self._http, adapter, deployment, job.body, timeout, translator):
                events, finishing = _framed(chunks, finishing)
                frames = [encode_sse(job.id, events)] if events else []
                if not started:  # the start and the first chunks go together: one round trip to Redis, not two
                    started = True
                    latency = time.monotonic() - started_at
                    outcome.model = deployment.name
                    frames.insert(0, encode_event(job.id, "start", model=deployment.name))
                if frames:
                    await self._publish(job, *frames)
                outcome.relayed(chunks)
        except ProviderError as exc:
            if started:
                raise StreamBroken(exc) from exc
            raise
        self._settle(outcome, deployment, translator.usage)
        outcome.last_event = encode_event(job.id, "end", model=deployment.name, usage=outcome.usage,
                                          cost=outcome.cost, finishing=finishing)
        return latency

    @staticmethod
    def _settle(outcome: JobOutcome, deployment: Deployment, usage: dict[str, int] | None) -> None:
        outcome.model = deployment.name
        outcome.usage = usage
        outcome.cost = usage_cost(usage, deployment.input_cost_per_token, deployment.output_cost_per_token)

    async def _error(self, job: JobEnvelope, error: GatewayError) -> None:
        await self._publish(job, encode_event(job.id, "error", **error.to_event()))


def _framed(chunks: list[dict[str, Any]], held: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any] | None]:
    """The chunks as server-sent events, but for the last finish_reason chunk, returned apart: the API sends it
    last, with the cost, which is known only once the stream has ended. A finish chunk held before (another
    choice's, when the request asked for n answers) goes out in its turn."""
    events, finishing = [], held
    for chunk in chunks:
        if chunk["choices"] and chunk["choices"][0].get("finish_reason"):
            if finishing is not None:
                events.append(sse_data(finishing))
            finishing = chunk
        else:
            events.append(sse_data(chunk))
    return b"".join(events), finishing
