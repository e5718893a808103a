"""Property-based fuzzing of POST /ai/chat/completions against the real gateway over HTTP.

Hypothesis generates bodies over every parameter and message shape: valid ones (which must be answered),
and valid ones with one part made hostile (junk of any JSON type, deep nesting, a missing field, an unknown
one, raw bytes). For each body: no 5xx, an answer within 5 s, an OpenAI-shaped error when refused, and a
refusal changes nothing (usage, rate-limit windows, concurrency slots, llm_active_requests).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from common import keys
from tests.harness import Gateway, RedisProcess
from tests.integration.gateway_state import (
    active_gauge,
    assert_openai_error,
    assert_rates_unchanged,
    org_state,
    rate_state,
)

pytestmark = pytest.mark.integration

ORG = "org_fuzz"
EXAMPLES = int(os.environ.get("TIERGATE_FUZZ_EXAMPLES", "2000"))
ANSWER_SECONDS = 5.0
STATUSES: Counter[int] = Counter()

# --- valid shapes ---------------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
_name = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
_text_part = st.builds(lambda t: {"type": "text", "text": t}, _text)
_user_part = st.one_of(
    _text_part,
    st.builds(lambda url, detail: {"type": "image_url", "image_url": {"url": url, **detail}},
              st.sampled_from(["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo="]),
              st.sampled_from([{}, {"detail": "low"}, {"detail": "high"}, {"detail": "auto"}])),
    st.builds(lambda fmt: {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": fmt}},
              st.sampled_from(["wav", "mp3"])),
    st.builds(lambda f: {"type": "file", "file": f},
              st.sampled_from([{"file_id": "file-abc"}, {"file_data": "JVBERi0=", "filename": "a.pdf"}])),
)
_schema = st.sampled_from([{"type": "object", "properties": {"id": {"type": "string"}}}, {"type": "object"}])


def _content(parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.one_of(_text, st.lists(parts, min_size=1, max_size=3))


@st.composite
def _conversation(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(_content(_text_part))})
    user: dict[str, Any] = {"role": "user", "content": draw(_content(_user_part))}
    if draw(st.booleans()):
        user["name"] = draw(_name)
    messages.append(user)
    if draw(st.booleans()):  # a tool round trip
        call_id = "call_" + draw(_name)
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": draw(_name), "arguments": "{\"id\": 7}"}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": draw(_content(_text_part))})
    if draw(st.booleans()):
        answer = draw(st.one_of(_text, st.just([{"type": "refusal", "refusal": "não"}])))
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": draw(_text)}]
    if draw(st.booleans()):
        messages += [{"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                     {"role": "function", "name": "f", "content": "1"}, {"role": "user", "content": "ok"}]
    return messages


_function = st.builds(lambda n, s, strict: {"type": "function", "function": {"name": n, "parameters": s, **strict}},
                      _name, _schema, st.sampled_from([{}, {"strict": True}, {"strict": None}]))
PARAMETERS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.sampled_from(["auto", "tier1", "tier2", "tier3", "tier4", "tier2/claude-haiku"]),
    "stream": st.booleans(),
    "temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "n": st.integers(1, 3),
    "stop": st.one_of(_text, st.lists(_text, min_size=1, max_size=4)),
    "max_tokens": st.integers(1, 200), "max_completion_tokens": st.integers(1, 200),
    "presence_penalty": st.floats(-2, 2), "frequency_penalty": st.floats(-2, 2),
    "logit_bias": st.dictionaries(st.integers(0, 100_000).map(str), st.integers(-100, 100), max_size=3),
    "seed": st.integers(-(2**63), 2**63 - 1), "user": _text,
    "tools": st.lists(_function, min_size=1, max_size=2),
    "tool_choice": st.sampled_from(["none", "auto", "required"]),
    "parallel_tool_calls": st.booleans(),
    "response_format": st.one_of(
        st.just({"type": "text"}), st.just({"type": "json_object"}),
        st.builds(lambda n, s: {"type": "json_schema", "json_schema": {"name": n, "schema": s, "strict": True}},
                  _name, _schema)),
    "store": st.booleans(), "service_tier": st.sampled_from(["auto", "default", "flex"]),
    "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high"]),
    "prediction": st.builds(lambda t: {"type": "content", "content": t}, _text),
    "functions": st.just([{"name": "f", "parameters": {"type": "object"}}]),
    "function_call": st.sampled_from(["none", "auto", {"name": "f"}]),
    "timeout": st.floats(5, 30),
    "cache": st.sampled_from([{"no-cache": True}, {"ttl": 60}]),
    "metadata": st.fixed_dictionaries(
        {"organization_id": st.just(ORG)},
        optional={"user_id": st.one_of(_name, st.integers(0, 10**9)), "conversation_id": _name,
                  "intent": st.sampled_from(["greeting", "support", "negotiation"]), "vip": st.booleans(),
                  "lead_value": st.integers(0, 10**6), "extra": st.dictionaries(_name, _text, max_size=3)}),
}


@st.composite
def valid_body(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(PARAMETERS)), unique=True, max_size=6))
    body: dict[str, Any] = {"messages": draw(_conversation())}
    for name in chosen:
        body[name] = draw(PARAMETERS[name])
    if body.get("top_logprobs") is None and draw(st.booleans()):
        body.update(logprobs=True, top_logprobs=draw(st.integers(0, 20)))
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    if "tools" not in body:
        body.pop("tool_choice", None)
    body["metadata"] = {**body.get("metadata", {}), "organization_id": ORG}
    return body


# --- hostile shapes -------------------------------------------------------------------------------------

JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=12), st.sampled_from(["", " ", "\x00", "user", "auto", "function", "text", "-1"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)


def _nested(levels: int, leaf: Any = "x") -> Any:
    for index in range(levels):
        leaf = {"k": leaf} if index % 2 else [leaf]
    return leaf


DEEP = st.integers(60, 600).map(_nested)
MESSAGE_FIELDS = ["role", "content", "name", "tool_calls", "tool_call_id", "refusal", "audio", "function_call", "x"]
PART_FIELDS = ["type", "text", "image_url", "input_audio", "file", "refusal", "x"]
OPENAI_PARAMETERS = [*PARAMETERS, "logprobs", "top_logprobs", "stream_options", "modalities", "audio",
                     "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier", "unknown_field"]


@st.composite
def hostile_body(draw: st.DrawFn) -> Any:
    body = draw(valid_body())
    junk = draw(st.one_of(JUNK.filter(lambda value: value is not None), DEEP))  # null would mean "absent"
    where = draw(st.sampled_from(["parameter", "message", "part", "nested", "drop", "messages", "whole"]))
    messages = body["messages"]
    message = messages[draw(st.integers(0, len(messages) - 1))]
    if where == "parameter":
        body[draw(st.sampled_from(OPENAI_PARAMETERS))] = junk
    elif where == "part" and isinstance(message.get("content"), list):
        part = message["content"][draw(st.integers(0, len(message["content"]) - 1))]
        part[draw(st.sampled_from(PART_FIELDS))] = junk
    elif where in ("message", "part"):
        message[draw(st.sampled_from(MESSAGE_FIELDS))] = junk
    elif where == "nested":
        target = draw(st.sampled_from(["metadata", "logit_bias", "tools", "response_format"]))
        body[target] = {"metadata": {"organization_id": ORG, "extra": junk}, "logit_bias": {"1": junk},
                        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"p": junk}}}],
                        "response_format": {"type": "json_schema",
                                            "json_schema": {"name": "r", "schema": {"s": junk}}}}[target]
    elif where == "drop":
        key = draw(st.sampled_from(["role", "content", "tool_call_id"]))
        message.pop(key, None)
    elif where == "messages":
        body["messages"] = junk
    else:
        return junk  # not an object at all, or raw bytes
    return body


RAW = st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"{", b"[]", b"null", b'{"messages": [}',
                                                          b"\xff\xfe{}", b'{"messages": "' + b"a" * 10 + b'"']))


# --- the gateway under test -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzzed(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    overrides = {"plans": {"fuzz": {"max_tier": 4, "rpm": 1_000_000, "tpm": 10**12, "max_concurrent": 50,
                                    "user_rpm": 1_000_000}},
                 "organizations": {ORG: {"plan": "fuzz"}}}
    running = Gateway(Path(tmp_path_factory.mktemp("fuzz")), own_redis, config_overrides=overrides).start()
    yield running
    running.stop()


class Settled:
    """The organization's state with nothing in flight: what a refused body must leave exactly as it was.

    Rate windows and concurrency slots (in Redis) are compared around every refused body, and an admitted
    body must give its slot back. The active gauge (a /metrics scrape) must be 0 every `GAUGE_EVERY` bodies. Usage
    (read from the database, which the ledger writer fills a moment later) is compared every `USAGE_EVERY`
    bodies and at the end: it must count exactly the bodies that were admitted, so a refused body counted
    anywhere in between shows."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.redis = gateway.redis.client()
        self.admitted = 0
        self.baseline = org_state(gateway, ORG)["usage"]["totals"]["requests"]
        self.rates = self.wait()

    def wait(self, request_id: str | None = None) -> dict[str, Any]:
        """Once the request has been counted (its token reservation settled with it) and its slot given back:
        the rate state to compare the next refusals with."""
        deadline = time.monotonic() + 10
        while True:
            rates = rate_state(self.gateway, ORG)
            counted = request_id is None or bool(self.redis.exists(keys.usage_recorded(request_id)))
            # finish() lowers the gauge before it gives the slot back: a free slot means a lowered gauge too
            settled = counted and not rates.get(keys.concurrency(ORG))
            if settled or time.monotonic() > deadline:
                assert settled, f"{request_id} not counted, or a slot or the gauge stayed taken: {rates}"
                return rates

    def check_gauge(self) -> None:
        """Back to 0 once the last answer's bookkeeping ran (it runs just after the answer is sent)."""
        deadline = time.monotonic() + 5
        while (gauge := active_gauge(self.gateway)) != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gauge == 0, f"llm_active_requests is {gauge} with nothing in flight"

    def check_usage(self) -> None:
        counted = org_state(self.gateway, ORG)["usage"]["totals"]["requests"] - self.baseline
        assert counted == self.admitted, f"usage counts {counted} requests; {self.admitted} were admitted"


GAUGE_EVERY = 50
USAGE_EVERY = 250


def _for_org(body: Any) -> bool:
    """Whether the body acts for ORG (hostile metadata without organization_id acts for the operator)."""
    metadata = body.get("metadata") if isinstance(body, dict) else None
    return isinstance(metadata, dict) and metadata.get("organization_id") == ORG


def _provider_refused(response: httpx.Response) -> bool:
    """Admitted, then refused by the provider (an adapter's limit, e.g. a model that takes no audio part)."""
    return response.status_code < 500 and "provider_" in response.text[:400]


def _cannot_honour(response: httpx.Response) -> bool:
    """A valid body the chosen models cannot honour (logprobs pinned on Claude, audio at a tier without an audio
    model): refused with 400 unsupported_parameter before admission, never answered without what it asked."""
    return response.status_code == 400 and '"unsupported_parameter"' in response.text[:600]


def _send(gateway: Gateway, client: httpx.Client, body: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    if isinstance(body, bytes):
        response = client.post("/ai/chat/completions", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post("/ai/chat/completions", json=body)
    return response, time.monotonic() - started


@pytest.mark.timeout(600)
def test_no_body_gets_a_5xx_or_a_slow_answer_and_a_refused_one_changes_nothing(fuzzed: Gateway) -> None:
    settled = Settled(fuzzed)
    kinds = {"valid": valid_body(), "hostile": hostile_body(), "raw": RAW}
    bodies = st.sampled_from(["valid", "hostile", "hostile", "hostile", "hostile", "raw"]).flatmap(
        lambda kind: kinds[kind].map(lambda body: (kind, body)))
    client = httpx.Client(base_url=fuzzed.base_url, headers=fuzzed.headers(), timeout=ANSWER_SECONDS + 5)

    # No shrinking: a failure is reported as generated (shrinking a body means hundreds more requests).
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(bodies)
    def check(case: tuple[str, Any]) -> None:
        kind, body = case
        response, seconds = _send(fuzzed, client, body)
        STATUSES[response.status_code] += 1
        assert response.status_code < 500, f"{response.status_code} for {body!r:.500}: {response.text[:300]}"
        assert seconds < ANSWER_SECONDS, f"{seconds:.1f}s for {body!r:.300}"
        if kind == "valid":
            assert response.status_code == 200 or _provider_refused(response) or _cannot_honour(response), \
                f"a valid body was refused: {body!r:.500}: {response.text[:300]}"
        if response.status_code >= 400:
            assert_openai_error(response)
        if (response.status_code == 200 or _provider_refused(response)) and _for_org(body):
            settled.admitted += 1  # admitted: counted once in usage, and its slot and gauge given back
            settled.rates = settled.wait(response.headers["x-request-id"])
        else:
            assert_rates_unchanged(settled.rates, rate_state(fuzzed, ORG))
        seen = sum(STATUSES.values())
        if seen % GAUGE_EVERY == 0:
            settled.check_gauge()
        if seen % USAGE_EVERY == 0:
            settled.check_usage()

    try:
        check()
        settled.check_gauge()
        settled.check_usage()
    finally:
        client.close()
        print(f"\nfuzz: {sum(STATUSES.values())} bodies, statuses {dict(sorted(STATUSES.items()))}")
    assert sum(STATUSES.values()) >= EXAMPLES
    assert STATUSES[200] >= EXAMPLES // 10 and STATUSES[400] >= EXAMPLES // 3, STATUSES
