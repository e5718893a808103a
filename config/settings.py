"""Load, resolve and validate the configuration file.

A bad file stops the start with the file name, the key path and what is wrong.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.compat import adapt
from routing.decision import ModelCandidate
from routing.settings import parse_routing_settings

log = logging.getLogger("tiergate.config")

ENV_PREFIX = "os.environ/"
#: Set by a process that has shown the config's warnings (`tiergate up`) for the processes it starts.
CONFIG_WARNED_ENV = "TIERGATE_CONFIG_WARNED"
TIER_NAMES = ("tier1", "tier2", "tier3", "tier4")

#: Wire protocol each LiteLLM provider prefix speaks.
PROVIDER_PROTOCOLS = {
    "openai": "openai", "together_ai": "openai", "groq": "openai", "ollama": "openai",
    "hosted_vllm": "openai", "openrouter": "openai", "custom_openai": "openai",
    "anthropic": "anthropic", "gemini": "gemini",
}
DEFAULT_API_BASES = {
    "openai": "https://api.openai.com/v1",
    "together_ai": "https://api.together.xyz/v1",
    "groq": "https://api.groq.com/openai/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
KEYLESS_PROVIDERS = {"ollama", "hosted_vllm"}

#: What a deployment can do, by `model_info` key (LiteLLM's `supports_*` names; `supports_logprobs`,
#: `supports_n` (native: without it `n` answers are fanned out) and `supports_stream_usage` are tiergate's).
CAPABILITY_KEYS = {
    "supports_function_calling": "function_calling", "supports_response_schema": "response_schema",
    "supports_vision": "vision", "supports_audio_input": "audio_input", "supports_logprobs": "logprobs",
    "supports_n": "n", "supports_stream_usage": "stream_usage",
}
_COMMON = frozenset({"function_calling", "response_schema", "stream_usage"})
#: What each provider's models can do when `model_info` does not say.
PROVIDER_CAPABILITIES: dict[str, frozenset[str]] = {
    "openai": _COMMON | {"vision", "logprobs", "n"},  # audio input: set supports_audio_input on an audio model
    "anthropic": _COMMON | {"vision"},  # JSON through a forced tool; no logprobs; n fanned out
    "gemini": _COMMON | {"vision", "audio_input", "logprobs", "n"},
    "together_ai": _COMMON | {"logprobs", "n"},
    "hosted_vllm": _COMMON | {"logprobs", "n"},
    "custom_openai": _COMMON | {"logprobs", "n"},
    "groq": _COMMON,
    "ollama": _COMMON,
    "openrouter": _COMMON,
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names file, key path and reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class LitellmParams(_Open):
    model: str
    api_key: str | None = None
    #: the variable `api_key: os.environ/NAME` names (set by the loader), so a missing key can be named
    api_key_env: str | None = None
    api_base: str | None = None
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("model")
    @classmethod
    def _provider_known(cls, value: str) -> str:
        provider = value.split("/", 1)[0]
        if "/" not in value or provider not in PROVIDER_PROTOCOLS:
            known = ", ".join(sorted(PROVIDER_PROTOCOLS))
            raise ValueError(f"must be 'provider/model-id' with provider one of {known}; got {value!r}")
        return value


class ModelInfo(_Open):
    tier: int = Field(ge=1, le=4)
    input_cost_per_token: float = Field(default=0.0, ge=0)
    output_cost_per_token: float = Field(default=0.0, ge=0)
    max_input_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)  # the completion allowance when a request sets none
    weight: float = Field(default=1.0, gt=0)
    supports_function_calling: bool | None = None
    supports_response_schema: bool | None = None
    supports_vision: bool | None = None
    supports_audio_input: bool | None = None
    supports_logprobs: bool | None = None
    supports_n: bool | None = None
    supports_stream_usage: bool | None = None

    def capabilities(self, provider: str) -> frozenset[str]:
        """The provider's defaults, with what this entry says (True adds, False removes)."""
        found = set(PROVIDER_CAPABILITIES.get(provider, _COMMON))
        for key, capability in CAPABILITY_KEYS.items():
            said = getattr(self, key)
            if said is True:
                found.add(capability)
            elif said is False:
                found.discard(capability)
        return frozenset(found)


class ModelEntry(_Strict):
    model_name: str
    litellm_params: LitellmParams
    model_info: ModelInfo


class RouterSettings(_Open):
    routing_strategy: Literal["cheapest", "latency", "weighted", "simple-shuffle", "least-busy",
                              "usage-based-routing", "latency-based-routing"] = "cheapest"
    num_retries: int = Field(default=2, ge=0, le=10)
    timeout: float = Field(default=60.0, gt=0)
    allowed_fails: int = Field(default=3, ge=1)
    cooldown_time: float = Field(default=30.0, ge=0)


class LitellmSettings(_Open):
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    cache: bool = False
    cache_params: dict[str, Any] = Field(default_factory=dict)

    @property
    def cache_ttl(self) -> int:
        return int(self.cache_params.get("ttl", 600))

    @property
    def max_entry_bytes(self) -> int:
        """Answers larger than this are not cached (keeps one chatty answer from crowding Redis)."""
        return int(self.cache_params.get("max_entry_bytes", 256 * 1024))


class GeneralSettings(_Open):
    master_key: str | None = None


class TierSettings(_Strict):
    name: str
    description: str = ""
    deadline_seconds: float = Field(default=60.0, gt=0)
    backlog_limit: int = Field(default=1000, ge=1)


class PlanLimits(_Open):
    """What a plan allows; an organization may override any of it. None means unlimited."""

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)
    user_rpm: int | None = Field(default=None, ge=1)
    monthly_budget_usd: float | None = Field(default=None, ge=0)
    budget_soft_ratio: float = Field(default=0.8, gt=0, le=1)
    budget_soft_max_tier: int | None = Field(default=None, ge=1, le=4)


class Plan(PlanLimits):
    max_tier: int = Field(ge=1, le=4)


class Organization(_Strict):
    """An organization: its plan and any plan limit it overrides (None: the plan's). Unknown keys are refused, so
    a mistyped override fails loudly instead of leaving the plan's limit in force."""

    plan: str
    name: str = ""
    max_tier: int | None = Field(default=None, ge=1, le=4)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)
    user_rpm: int | None = Field(default=None, ge=1)
    monthly_budget_usd: float | None = Field(default=None, ge=0)
    budget_soft_ratio: float | None = Field(default=None, gt=0, le=1)
    budget_soft_max_tier: int | None = Field(default=None, ge=1, le=4)


class AuditSettings(_Strict):
    retention_days: float = Field(default=30, gt=0)
    #: no longer used (the audit trail is in the database, bounded by retention_days); accepted so configs load
    max_records: int = Field(default=1_000_000, ge=1000)
    #: prompts and answers in the audit trail: masked personal data ("redacted") or not at all ("none")
    content: Literal["redacted", "none"] = "redacted"


class BudgetSettings(_Strict):
    alert_webhook: str | None = None


class SecuritySettings(_Strict):
    max_messages: int = Field(default=256, ge=1)
    max_message_chars: int = Field(default=200_000, ge=100)
    block_prompt_injection: bool = False
    #: JSON nested deeper than this is refused at parse (OpenAI bodies need a handful of levels; tool
    #: schemas a few dozen)
    max_json_depth: int = Field(default=64, ge=8, le=200)


class MetricsSettings(_Strict):
    #: when set, GET /metrics needs `Authorization: Bearer <token>` (e.g. os.environ/TIERGATE_METRICS_TOKEN)
    bearer_token: str | None = None
    #: llm_cost's organization label; off, every organization is counted as "all" (no ids in the metrics)
    organization_label: bool = True


class SimulatorSettings(_Strict):
    mode: Literal["auto", "always", "never"] = "auto"
    url: str = "http://127.0.0.1:4010"
    protocols: list[str] = Field(default_factory=lambda: ["openai", "anthropic", "gemini"])
    ttft_ms: float = Field(default=40.0, ge=0)
    token_delay_ms: float = Field(default=5.0, ge=0)


class ServerSettings(_Strict):
    port: int = Field(default=4000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    #: the request line and headers together (uvicorn's httptools server has no limit of its own)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    #: time for a request's headers, and for its body, to arrive (a slow or short body is refused with 408)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    keepalive_seconds: float = Field(default=10.0, gt=0)
    production: bool = False
    #: origins browsers may call from (CORS), e.g. ["https://app.example.com"]; ["*"] any; none by default
    cors_origins: list[str] = Field(default_factory=list)


class Settings(_Strict):
    model_list: list[ModelEntry]
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    litellm_settings: LitellmSettings = Field(default_factory=LitellmSettings)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    tiers: dict[str, TierSettings]
    routing: dict[str, Any] = Field(default_factory=dict)
    plans: dict[str, Plan]
    default_plan: str | None = None
    organizations: dict[str, Organization] = Field(default_factory=dict)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        names = [m.model_name for m in self.model_list]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model_list: model_name repeated: {', '.join(dupes)}")
        unknown_tiers = sorted(set(self.tiers) - set(TIER_NAMES))
        if unknown_tiers or set(self.tiers) != set(TIER_NAMES):
            raise ValueError(f"tiers: must define exactly {', '.join(TIER_NAMES)}; got {', '.join(self.tiers)}")
        for source, targets in self.litellm_settings.fallbacks.items():
            for name in [source, *targets]:
                if name not in names:
                    raise ValueError(f"litellm_settings.fallbacks.{source}: unknown model {name!r}")
        for org_id, org in self.organizations.items():
            if org.plan not in self.plans:
                raise ValueError(f"organizations.{org_id}.plan: unknown plan {org.plan!r}")
        if self.default_plan is not None and self.default_plan not in self.plans:
            raise ValueError(f"default_plan: unknown plan {self.default_plan!r}")
        if not self.model_list:
            raise ValueError("model_list: at least one model is needed")
        parse_routing_settings(self.routing)  # a bad routing section fails at load, with its key path
        return self

    # --- derived views -------------------------------------------------------------------------

    def deployments(self) -> dict[str, Deployment]:
        """Every configured model, resolved to where and how it is called."""
        return {m.model_name: _deployment(m, self.simulator) for m in self.model_list}

    def plan_for(self, organization_id: str) -> tuple[str, Plan] | None:
        org = self.organizations.get(organization_id)
        plan_name = org.plan if org else self.default_plan
        if plan_name is None:
            return None
        return plan_name, self.plans[plan_name]


@dataclass(frozen=True)
class Deployment:
    """One configured model as a worker calls it."""

    name: str
    tier: str
    provider: str
    model_id: str
    protocol: str
    api_base: str
    api_key: str | None
    simulated: bool
    input_cost_per_token: float
    output_cost_per_token: float
    max_input_tokens: int | None
    weight: float
    timeout: float | None
    max_output_tokens: int | None = None
    missing_key: bool = False  # the provider needs a key and none is set
    key_variable: str | None = None  # the environment variable its key comes from, when the config names one
    capabilities: frozenset[str] = frozenset()

    @property
    def tier_number(self) -> int:
        return int(self.tier.removeprefix("tier"))

    def candidate(self) -> ModelCandidate:
        """What the router knows of this deployment."""
        return ModelCandidate(self.name, self.tier_number, self.input_cost_per_token, self.output_cost_per_token,
                              self.weight, self.max_input_tokens, self.capabilities)


def _deployment(entry: ModelEntry, sim: SimulatorSettings) -> Deployment:
    params, info = entry.litellm_params, entry.model_info
    provider, model_id = params.model.split("/", 1)
    protocol = PROVIDER_PROTOCOLS[provider]
    missing_key = provider not in KEYLESS_PROVIDERS and not params.api_base and not params.api_key
    simulated = sim.mode == "always" or (sim.mode == "auto" and missing_key)
    if simulated:
        protocol = protocol if protocol in sim.protocols else "openai"
        api_base = sim.url.rstrip("/") + ("/v1" if protocol == "openai" else "")
    else:
        api_base = (params.api_base or DEFAULT_API_BASES.get(provider, "")).rstrip("/")
    return Deployment(
        name=entry.model_name, tier=f"tier{info.tier}", provider=provider, model_id=model_id,
        protocol=protocol, api_base=api_base, api_key=None if simulated else params.api_key,
        simulated=simulated, missing_key=missing_key, key_variable=params.api_key_env,
        input_cost_per_token=info.input_cost_per_token,
        output_cost_per_token=info.output_cost_per_token, max_input_tokens=info.max_input_tokens,
        weight=info.weight, timeout=params.timeout, max_output_tokens=info.max_output_tokens,
        capabilities=info.capabilities(provider),
    )


# --- loading -----------------------------------------------------------------------------------


def default_config_path() -> Path:
    env = os.environ.get("TIERGATE_CONFIG")
    return Path(env) if env else Path(__file__).with_name("litellm_config.yaml")


def resolve_env(value: Any, environ: dict[str, str] | os._Environ[str]) -> Any:
    """Replace every `os.environ/NAME` string with that variable's value (None when unset)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        found = environ.get(value[len(ENV_PREFIX):])
        return found if found else None
    if isinstance(value, dict):
        return {k: resolve_env(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, environ) for v in value]
    return value


def _note_key_variables(raw: dict[str, Any]) -> None:
    """Keep the name of each model's key variable beside the key, which resolving replaces by its value."""
    for entry in raw.get("model_list") or []:
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        key = params.get("api_key") if isinstance(params, dict) else None
        if isinstance(key, str) and key.startswith(ENV_PREFIX):
            params["api_key_env"] = key[len(ENV_PREFIX):]


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError naming the file, key path and reason."""
    path = Path(path) if path else default_config_path()
    environ = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    _note_key_variables(raw)
    raw = resolve_env(raw, environ)
    try:
        raw, ignored = adapt(raw, known_keys())
    except ValueError as exc:  # KeyTypo among them
        raise ConfigError(f"{path}: {exc}") from None
    if ignored and not environ.get(CONFIG_WARNED_ENV):
        log.warning("%s: LiteLLM settings tiergate does not implement, ignored: %s", path, ", ".join(ignored))
    if environ.get("TIERGATE_SIMULATOR_URL"):
        raw["simulator"] = {**(raw.get("simulator") or {}), "url": environ["TIERGATE_SIMULATOR_URL"]}
    master = environ.get("LITELLM_MASTER_KEY")
    if master:
        raw.setdefault("general_settings", {})
        raw["general_settings"] = {**(raw["general_settings"] or {}), "master_key": master}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(_describe(err) for err in exc.errors())) from None


def known_keys() -> dict[str, frozenset[str]]:
    """The keys tiergate reads in each section of the file (config/compat.py checks the file against them)."""
    sections: dict[str, type[BaseModel]] = {
        "": Settings, "router_settings": RouterSettings, "litellm_settings": LitellmSettings,
        "general_settings": GeneralSettings, "model_list": ModelEntry, "litellm_params": LitellmParams,
        "model_info": ModelInfo, "tiers.*": TierSettings, "plans.*": Plan, "organizations.*": Organization,
        "simulator": SimulatorSettings, "server": ServerSettings, "audit": AuditSettings, "budgets": BudgetSettings,
        "security": SecuritySettings,
    }
    known = {name: frozenset(model.model_fields) for name, model in sections.items()}
    known[""] |= {"fallbacks"}  # the seed's place for them
    known["router_settings"] |= {"fallbacks"}
    return known


def _describe(err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
