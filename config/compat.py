"""LiteLLM proxy configs as tiergate reads them.

A plain LiteLLM config runs as it is: a model without `model_info.tier` takes the tier its name starts with
(`tier3/...`), else `routing.default_tier`; `tiers`, `routing` and `plans` default to the bundled ones (plans: one
plan without limits); fallbacks are read wherever LiteLLM or the seed put them (top level, `litellm_settings`,
`router_settings`), as a map or a list of maps. Settings LiteLLM has and tiergate does not implement are listed in
one warning; a key that is neither but close to a known one fails the start ("did you mean `cache`?").
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path
from typing import Any

import yaml

#: Keys LiteLLM's proxy documents that tiergate reads none of (accepted, named in the start warning).
LITELLM_ONLY: dict[str, frozenset[str]] = {
    "": frozenset({"environment_variables", "include", "credential_list", "guardrails", "mcp_servers",
                   "files_settings", "assistant_settings", "finetune_settings", "callback_settings",
                   "search_tools", "vector_store_registry", "prompts", "model_group_settings"}),
    "router_settings": frozenset({
        "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "retry_policy",
        "allowed_fails_policy", "redis_host", "redis_port", "redis_password", "redis_url", "enable_pre_call_checks",
        "model_group_alias", "routing_strategy_args", "provider_budget_config", "cache_responses", "retry_after",
        "max_fallbacks", "stream_timeout", "enable_tag_filtering", "disable_cooldowns", "optional_pre_call_checks",
        "default_litellm_params", "set_verbose", "debug_level", "polling_interval", "client_ttl",
        "default_max_parallel_requests", "default_priority", "model_group_retry_policy", "cache_kwargs",
        "router_general_settings", "assistants_config", "search_tools", "ignore_invalid_deployments"}),
    "litellm_settings": frozenset({
        "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "drop_params",
        "modify_params", "set_verbose", "json_logs", "success_callback", "failure_callback", "callbacks",
        "service_callback", "num_retries", "request_timeout", "turn_off_message_logging",
        "redact_user_api_key_info", "telemetry", "max_budget", "budget_duration", "default_team_settings",
        "enable_preview_features", "force_ipv4", "upperbound_key_generate_params", "default_internal_user_params",
        "key_generation_settings", "disable_end_user_cost_tracking", "return_response_headers",
        "enable_json_schema_validation", "ssl_verify", "allowed_fails", "cooldown_time", "max_end_user_budget",
        "default_key_generate_params", "default_max_internal_user_budget", "max_internal_user_budget",
        "internal_user_budget_duration", "disable_add_transform_inline_image_block",
        "use_client_credentials_pass_through_routes", "public_model_groups", "public_agent_groups", "mcp_aliases",
        "guardrails", "logging", "global_disable_no_log_param", "cache_control_injection_points",
        "disable_token_counter", "model_alias_map", "redact_messages_in_exceptions",
        "langfuse_default_tags", "request_timeout_seconds", "require_auth_for_metrics_endpoint"}),
    "general_settings": frozenset({
        "database_url", "database_connection_pool_limit", "database_connection_timeout", "store_model_in_db",
        "alerting", "alerting_threshold", "alert_types", "alert_to_webhook_url", "proxy_batch_write_at",
        "disable_spend_logs", "allowed_routes", "admin_only_routes", "enforce_user_param", "max_parallel_requests",
        "global_max_parallel_requests", "infer_model_from_keys", "background_health_checks", "health_check_interval",
        "health_check_details", "proxy_budget_rescheduler_min_time", "proxy_budget_rescheduler_max_time",
        "ui_access_mode", "custom_auth", "disable_master_key_return", "maximum_spend_logs_retention_period",
        "forward_openai_org_id", "forward_client_headers_to_llm_api", "use_redis_transaction_buffer",
        "pass_through_endpoints", "disable_reset_budget", "allow_requests_on_db_unavailable", "user_header_name",
        "litellm_key_header_name", "enable_jwt_auth", "litellm_jwtauth", "database_type",
        "store_prompts_in_spend_logs",
        "disable_retry_on_max_parallel_request_limit_error", "key_management_system", "use_google_kms",
        "use_azure_key_vault", "custom_key_generate", "allowed_ips", "public_routes", "enable_oauth2_auth",
        "service_account_settings", "embedding_model", "disable_prisma_schema_update", "master_key_alias",
        "spend_report_frequency", "supported_db_objects"}),
    "litellm_params": frozenset({
        "api_version", "rpm", "tpm", "max_tokens", "stream_timeout", "max_retries", "organization", "region_name",
        "aws_access_key_id", "aws_secret_access_key", "aws_region_name", "aws_session_token", "vertex_project",
        "vertex_location", "vertex_credentials", "input_cost_per_token", "output_cost_per_token",
        "input_cost_per_second", "output_cost_per_second", "tags", "order", "mock_response", "custom_llm_provider",
        "use_in_pass_through", "merge_reasoning_content_in_choices", "drop_params", "additional_drop_params",
        "headers", "extra_headers", "litellm_credential_name", "configurable_clientside_auth_params",
        "model_info", "temperature", "top_p", "seed", "base_model", "use_litellm_proxy", "auto_router_config",
        "weight", "cache_control_injection_points", "litellm_trace_id", "api_type"}),
    "model_info": frozenset({
        "id", "mode", "base_model", "max_tokens", "team_id", "db_model", "access_groups", "health_check_model",
        "litellm_provider", "description", "supports_parallel_function_calling", "supports_tool_choice",
        "supports_system_messages", "supports_prompt_caching", "supports_pdf_input", "supports_reasoning",
        "supports_web_search", "supports_audio_output", "supports_computer_use", "supports_assistant_prefill",
        "supports_native_streaming", "supports_embedding_image_input", "tpm", "rpm", "key",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost", "input_cost_per_audio_token", "output_cost_per_reasoning_token",
        "deprecation_date", "tags", "updated_at", "updated_by", "created_at", "created_by"}),
}
#: Where the LiteLLM config's own sections are; tiergate's sections accept only their own keys.
_LITELLM_SECTIONS = frozenset(LITELLM_ONLY)
_TIER_PREFIX = re.compile(r"^tier([1-4])/")
#: The plan of a config that defines none: no limits, every tier.
DEFAULT_PLANS = {"unlimited": {"max_tier": 4}}


class KeyTypo(ValueError):
    """A key tiergate does not know, close to one it does."""


@functools.cache
def bundled_sections() -> dict[str, Any]:
    """`tiers` and `routing` of the bundled config: the defaults of a config without them."""
    raw = yaml.safe_load(Path(__file__).with_name("litellm_config.yaml").read_text(encoding="utf-8"))
    return {"tiers": raw["tiers"], "routing": raw["routing"]}


def adapt(raw: dict[str, Any], known: dict[str, frozenset[str]]) -> tuple[dict[str, Any], list[str]]:
    """The config with LiteLLM's shapes made tiergate's, and the keys tiergate ignores (for one warning).

    `known` maps each section ("" for the top level, "router_settings", "model_info", "tiers.*", ...) to the
    keys tiergate reads there. Raises KeyTypo naming an unknown key and the closest known one."""
    ignored = check_keys(raw, known)
    raw = {k: v for k, v in raw.items() if k not in LITELLM_ONLY[""]}
    for name, default in bundled_sections().items():
        if raw.get(name) is None:
            raw[name] = default
    if raw.get("plans") is None:
        raw["plans"] = DEFAULT_PLANS
        raw.setdefault("default_plan", "unlimited")
    raw["model_list"], groups = _numbered(raw.get("model_list") or [])
    raw["litellm_settings"] = {**(raw.get("litellm_settings") or {}),
                               "fallbacks": _expanded(_fallbacks(raw), groups)}
    if isinstance(raw.get("router_settings"), dict):
        raw["router_settings"] = {k: v for k, v in raw["router_settings"].items() if k != "fallbacks"}
    raw.pop("fallbacks", None)
    default_tier = str((raw.get("routing") or {}).get("default_tier") or "tier2")
    raw["model_list"] = [_with_tier(entry, default_tier) for entry in raw["model_list"]]
    return raw, ignored


def check_keys(raw: dict[str, Any], known: dict[str, frozenset[str]]) -> list[str]:
    """The LiteLLM keys tiergate ignores, by path; KeyTypo for a key close to a known one."""
    ignored: list[str] = []
    for path, section, mapping in _sections(raw):
        if section not in known:
            continue  # a section tiergate does not read (environment_variables, ...), named as a whole
        ours = known[section]
        theirs = LITELLM_ONLY.get(section, frozenset())
        for key in mapping:
            if key in ours or not isinstance(key, str):
                continue
            if key in theirs:
                ignored.append(f"{path}{key}")
                continue
            close = difflib.get_close_matches(key, sorted(ours | theirs), n=1, cutoff=0.75)
            if close:
                raise KeyTypo(f"{path}{key}: unknown key; did you mean `{close[0]}`?")
            if section in _LITELLM_SECTIONS:
                ignored.append(f"{path}{key}")
            else:
                raise KeyTypo(f"{path}{key}: unknown key; known here: {', '.join(sorted(ours))}")
    return sorted(set(_generalised(ignored)))


def _sections(raw: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path prefix, section name, mapping) of every mapping whose keys are checked."""
    found: list[tuple[str, str, dict[str, Any]]] = [("", "", raw)]
    for name, value in raw.items():
        if not isinstance(value, dict):
            continue
        if name in ("tiers", "plans", "organizations"):
            found += [(f"{name}.{item}.", f"{name}.*", v) for item, v in value.items() if isinstance(v, dict)]
        elif name not in ("routing", "fallbacks"):  # routing/settings.py checks its own section
            found.append((f"{name}.", name, value))
    for index, entry in enumerate(raw.get("model_list") or []):
        if not isinstance(entry, dict):
            continue
        found.append((f"model_list[{index}].", "model_list", entry))
        for part in ("litellm_params", "model_info"):
            if isinstance(entry.get(part), dict):
                found.append((f"model_list[{index}].{part}.", part, entry[part]))
    return found


def _generalised(paths: list[str]) -> list[str]:
    """`model_list[3].litellm_params.rpm` as `model_list[*].litellm_params.rpm`: one line per setting."""
    return [re.sub(r"^model_list\[\d+\]", "model_list[*]", p) for p in paths]


def _fallbacks(raw: dict[str, Any]) -> dict[str, list[str]]:
    """Every fallback map in the file, merged: top level (the seed), litellm_settings, router_settings."""
    merged: dict[str, list[str]] = {}
    sources = (raw.get("fallbacks"), (raw.get("litellm_settings") or {}).get("fallbacks"),
               (raw.get("router_settings") or {}).get("fallbacks"))
    for where, source in zip(("fallbacks", "litellm_settings.fallbacks", "router_settings.fallbacks"), sources,
                             strict=True):
        for model, targets in _as_map(source, where).items():
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise ValueError(f"{where}.{model}: must be a list of model names")
            merged[model] = [*merged.get(model, []), *(t for t in targets if t not in merged.get(model, []))]
    return merged


def _numbered(entries: list[Any]) -> tuple[list[Any], dict[str, list[str]]]:
    """LiteLLM balances the deployments that share a `model_name`; tiergate names each deployment once, so the
    second and later of a name become `name#2`, `name#3`: the first answers a request pinning the name, the others
    follow it in its chain. Returns the entries and each shared name's deployments."""
    groups: dict[str, list[str]] = {}
    numbered = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("model_name"), str):
            numbered.append(entry)
            continue
        name = entry["model_name"]
        members = groups.setdefault(name, [])
        own = name if not members else f"{name}#{len(members) + 1}"
        members.append(own)
        numbered.append({**entry, "model_name": own} if own != name else entry)
    return numbered, {name: members for name, members in groups.items() if len(members) > 1}


def _expanded(fallbacks: dict[str, list[str]], groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Fallbacks with a shared name standing for all its deployments, as a source and as a target."""
    if not groups:
        return fallbacks
    expanded: dict[str, list[str]] = {}
    for source, targets in fallbacks.items():
        members = [t for target in targets for t in groups.get(target, [target])]
        for own in groups.get(source, [source]):
            expanded[own] = [t for t in members if t != own]
    return expanded


def _as_map(value: Any, where: str) -> dict[str, Any]:
    """LiteLLM writes `[{a: [b, c]}, ...]`; the seed writes `{a: [b, c]}`. Both load."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return {k: v for item in value for k, v in item.items()}
    raise ValueError(f"{where}: must be a map {{model: [fallbacks]}} or a list of such maps")


def _with_tier(entry: Any, default_tier: str) -> Any:
    """A model entry with `model_info.tier`: given, else its name's `tierN/` prefix, else the default tier."""
    if not isinstance(entry, dict):
        return entry
    info = entry.get("model_info")
    info = dict(info) if isinstance(info, dict) else {}
    if info.get("tier") is None:
        prefix = _TIER_PREFIX.match(str(entry.get("model_name", "")))
        info["tier"] = int(prefix.group(1)) if prefix else int(default_tier.removeprefix("tier") or 2)
    return {**entry, "model_info": info}
