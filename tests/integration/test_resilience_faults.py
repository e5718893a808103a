"""Retry, backoff, fallback and deadlines, driven by simulator faults and observed from the client side.

Faults ride in the last user message (`[sim fail=500 models=... id=...]`), so they pass through the gateway;
`id=` makes each test's directive unique, and the simulator counts calls per directive and model.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.harness import MASTER_KEY, Gateway, RedisProcess

pytestmark = pytest.mark.integration

OPUS, GPT4_TURBO, SONNET = "claude-3-opus-20240229", "gpt-4-turbo", "claude-3-5-sonnet-20241022"
HAIKU, GPT35, LLAMA = "claude-3-haiku-20240307", "gpt-3.5-turbo", "meta-llama/Llama-3.2-3B-Instruct-Turbo"
#: The default config's enterprise organization: its plan reaches tier4.
ENTERPRISE = {"organization_id": "org_123"}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway of its own (own Redis, so failures here cool nothing down elsewhere); cooldowns out of the way."""
    redis = RedisProcess.start()
    overrides = {"router_settings": {"num_retries": 2, "allowed_fails": 1000, "cooldown_time": 30, "timeout": 1.5}}
    gateway = Gateway(Path(tmp_path_factory.mktemp("faults")), redis, config_overrides=overrides).start()
    yield gateway
    gateway.stop()
    redis.stop()


@pytest.fixture
def client(faulty: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=faulty.ai_url, api_key=MASTER_KEY, max_retries=0, timeout=30)


def directive(**faults: Any) -> str:
    fields = " ".join(f"{k}={v}" for k, v in faults.items())
    return f"[sim {fields} id={uuid.uuid4().hex[:10]}]"


def calls(gateway: Gateway, tag: str) -> list[str]:
    """Model ids the simulator was asked, in order, for requests carrying this directive."""
    return [r["model"] for r in gateway.sim_stats()["recent"] if tag in str(r["body"])]


def ask(client: openai.OpenAI, model: str, text: str, **extra: Any) -> tuple[Any, httpx.Headers, float]:
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], extra_body={"metadata": ENTERPRISE}, **extra)
    return raw.parse(), raw.headers, time.monotonic() - started


def test_a_429_with_retry_after_1_is_retried_after_at_least_a_second_and_succeeds(
        client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(fail=429, retry_after=1, fail_times=1)
    answer, headers, seconds = ask(client, "tier3/claude-sonnet", f"{tag} Olá")
    assert answer.model == "tier3/claude-sonnet" and headers["x-gateway-model"] == "tier3/claude-sonnet"
    assert seconds >= 1.0, f"the retry came after {seconds:.2f}s, before the provider's retry-after of 1s"
    assert calls(faulty, tag) == [SONNET, SONNET]


def test_500s_walk_the_seed_chain_in_order_to_the_first_healthy_model(client: openai.OpenAI, faulty: Gateway) -> None:
    # Seed: tier4/claude-opus -> [tier4/gpt-4-turbo, tier3/claude-sonnet]
    tag = directive(fail=500, models=f"{OPUS},{GPT4_TURBO}")
    answer, headers, _ = ask(client, "tier4/claude-opus", f"{tag} Quero negociar o contrato anual")
    assert answer.model == "tier3/claude-sonnet" and headers["x-gateway-model"] == "tier3/claude-sonnet"
    assert calls(faulty, tag) == [OPUS] * 3 + [GPT4_TURBO] * 3 + [SONNET], "two retries each, then the next model"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_not_found_errors_move_to_the_next_model_at_once(
        client: openai.OpenAI, faulty: Gateway, status: int) -> None:
    tag = directive(fail=status, models=HAIKU)
    answer, _, _ = ask(client, "tier2/claude-haiku", f"{tag} Qual o preço?")
    assert answer.model == "tier2/gpt-3.5-turbo"
    assert calls(faulty, tag) == [HAIKU, GPT35], f"a {status} is not retried on the same model"


def test_a_400_is_never_retried_and_reaches_the_client(client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(fail=400, models=HAIKU)
    with pytest.raises(openai.BadRequestError):
        ask(client, "tier2/claude-haiku", f"{tag} Qual o preço?")
    assert calls(faulty, tag) == [HAIKU], "a bad request is refused by every model alike: no retry, no fallback"


def test_a_context_length_error_moves_to_a_model_with_a_larger_window(client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(context=5, models="gpt-4")  # tier3/gpt-4: 8192 tokens; next in its chain, claude-sonnet: 200k
    answer, _, _ = ask(client, "tier3/gpt-4", f"{tag} Um histórico de conversa muito longo")
    assert answer.model == "tier3/claude-sonnet"
    assert calls(faulty, tag) == ["gpt-4", SONNET]


def test_a_context_length_error_skips_fallbacks_with_smaller_windows(client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(context=5, models=HAIKU)  # haiku 200k; its fallbacks gpt-3.5 (16k) and llama (131k) are smaller
    with pytest.raises(openai.BadRequestError) as raised:
        ask(client, "tier2/claude-haiku", f"{tag} Um histórico de conversa muito longo")
    assert raised.value.code == "context_length_exceeded"
    assert calls(faulty, tag) == [HAIKU]


def test_a_malformed_answer_is_retried_then_falls_back(client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(malformed=1, models=HAIKU)
    answer, _, _ = ask(client, "tier2/claude-haiku", f"{tag} Oi")
    assert answer.model == "tier2/gpt-3.5-turbo"
    assert calls(faulty, tag) == [HAIKU] * 3 + [GPT35]


def test_a_hung_model_times_out_and_the_next_one_answers(client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(hang=1, models=LLAMA)  # router timeout 1.5s per attempt in this gateway's config
    answer, _, seconds = ask(client, "tier1/llama-3.2-3b", f"{tag} Oi")
    assert answer.model == "tier1/gemini-flash"
    assert calls(faulty, tag) == [LLAMA] * 3 + ["gemini-1.5-flash"]
    assert seconds >= 4.5, "three attempts of 1.5s each before the fallback"


def test_a_stream_that_fails_before_its_first_token_falls_back_invisibly(
        client: openai.OpenAI, faulty: Gateway) -> None:
    tag = directive(fail=503, models=f"{HAIKU},{GPT35}")
    chunks = list(client.chat.completions.create(
        model="tier2/claude-haiku", messages=[{"role": "user", "content": f"{tag} Oi"}], stream=True,
        extra_body={"metadata": ENTERPRISE}))
    assert {c.model for c in chunks} == {"tier1/llama-3.2-3b"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_stream_cut_after_its_first_tokens_ends_with_an_error_event_and_done(faulty: Gateway) -> None:
    tag = directive(cut_after=3, tokens=20)
    body = {"model": "tier2/claude-haiku", "stream": True, "messages": [{"role": "user", "content": f"{tag} Oi"}],
            "metadata": ENTERPRISE}
    with httpx.stream("POST", f"{faulty.ai_url}/chat/completions", json=body, headers=faulty.headers(),
                      timeout=30) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert '"error"' in lines[-2], f"expected an error event before [DONE], got {lines[-2]}"
    assert any('"content"' in line for line in lines[:-2]), "the first tokens reached the client"
    assert calls(faulty, tag) == [HAIKU], "no fallback once the client has seen tokens"


DEADLINE_CASES = {
    "every model hangs, timeout in the body": ({"hang": 1}, "body", False),
    "every model hangs, timeout header, streaming": ({"hang": 1}, "header", True),
    "every model answers 503 retry-after 1": ({"fail": 503, "retry_after": 1}, "header", False),
    "every model is slow to its first byte": ({"ttft_ms": 1500}, "body", True),
}


@pytest.mark.parametrize("case", list(DEADLINE_CASES))
def test_a_deadline_of_2s_is_never_exceeded_whatever_the_chain(faulty: Gateway, case: str) -> None:
    faults, where, stream = DEADLINE_CASES[case]
    body: dict[str, Any] = {"model": "tier4", "stream": stream, "metadata": ENTERPRISE,
                            "messages": [{"role": "user", "content": f"{directive(**faults)} Proposta"}]}
    headers = faulty.headers()
    if where == "body":
        body["timeout"] = 2
    else:
        headers["x-gateway-timeout"] = "2"
    started = time.monotonic()
    with httpx.stream("POST", f"{faulty.ai_url}/chat/completions", json=body, headers=headers,
                      timeout=30) as response:
        response.read()
    seconds = time.monotonic() - started
    assert seconds <= 2.3, f"{case}: answered after {seconds:.2f}s, past the 2s deadline"
    assert response.status_code in (200, 503, 504), f"{case}: {response.status_code} {response.text[:300]}"
