"""A plain LiteLLM proxy config (no tiers, plans or routing; fallbacks in router_settings' list form; deployments
sharing a name) runs the whole gateway as it is, driven by the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from pydantic import BaseModel

from tests.harness import MASTER_KEY, Gateway, RedisProcess

pytestmark = pytest.mark.integration

PLAIN_LITELLM = {
    "model_list": [
        {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20241022",
                                                     "api_key": "os.environ/ANTHROPIC_API_KEY"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-haiku-20241022",
                                                     "api_key": "os.environ/ANTHROPIC_API_KEY"}},
        {"model_name": "gemini", "litellm_params": {"model": "gemini/gemini-1.5-flash",
                                                     "api_key": "os.environ/GEMINI_API_KEY"}},
    ],
    "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 0,
                        "fallbacks": [{"gpt-4o": ["claude"]}]},
    "litellm_settings": {"drop_params": True, "success_callback": ["langfuse"]},
    "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
}


class Answer(BaseModel):
    reply: str
    confident: bool


@pytest.fixture(scope="module")
def plain(own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = Gateway(Path(tmp_path_factory.mktemp("litellm")), own_redis, base_config=PLAIN_LITELLM).start()
    yield running
    running.stop()


@pytest.fixture
def client(plain: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{plain.base_url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)


def test_it_starts_and_names_the_litellm_settings_it_ignores_in_a_warning(plain: Gateway) -> None:
    log = plain.log.read_text()
    assert "litellm_settings.drop_params" in log and "litellm_settings.success_callback" in log


def test_auto_routing_answers_from_the_one_tier_the_models_are_in(client: openai.OpenAI) -> None:
    response = client.chat.completions.with_raw_response.create(model="auto",
                                                                messages=[{"role": "user", "content": "Oi!"}])
    assert response.headers["x-gateway-tier"] == "tier2" and response.parse().choices[0].message.content


def test_every_deployment_is_listed_and_a_shared_name_is_numbered(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == {"gpt-4o", "claude", "claude#2", "gemini"}


def test_a_pinned_model_falls_back_as_router_settings_says(client: openai.OpenAI) -> None:
    response = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "[sim fail=503 models=gpt-4o] Oi"}])
    assert response.headers["x-gateway-model"] in {"claude", "claude#2"}


@pytest.mark.parametrize("model", ["gpt-4o", "claude", "gemini"])
def test_structured_output_works_on_each_protocol(client: openai.OpenAI, model: str) -> None:
    completion = client.chat.completions.parse(model=model, response_format=Answer,
                                               messages=[{"role": "user", "content": "Responda"}])
    assert isinstance(completion.choices[0].message.parsed, Answer)
