"""How the simulator behaves for one request: latency, length and injected faults.

Defaults come from the config; a request overrides them with `x-sim-*` headers or with a directive in
its last user message, `[sim ttft_ms=500 tokens=10 fail=503]`, which passes through any gateway.
`models=a,b` limits the overrides to those provider model ids, so one request can fail the first models
of a fallback chain and let the next one answer.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers

_DIRECTIVE = re.compile(r"\[sim ([^\]]*)\]")


@dataclass(frozen=True)
class Behaviour:
    ttft_ms: float = 0.0          # delay before the first byte of the answer
    token_delay_ms: float = 0.0   # delay between streamed tokens
    tokens: int | None = None     # completion length (default: 20-60, fixed per prompt)
    fail: int | None = None       # answer this HTTP status instead
    retry_after: float | None = None  # with fail=429/503: the retry-after header
    fail_times: int | None = None  # fail only the first N requests carrying this directive
    cut_after: int | None = None  # stream: drop the connection after N tokens
    hang: bool = False            # never answer (until the client gives up)
    malformed: bool = False       # answer 200 with a body that is not JSON
    context: int | None = None    # the model's context window: longer prompts get the context-length error
    models: tuple[str, ...] | None = None  # apply the overrides only to these model ids


_FIELDS = {f.name: f.type for f in dataclasses.fields(Behaviour)}


def behaviour_for(defaults: Behaviour, headers: Headers, last_user_text: str, model: str = "") -> Behaviour:
    overrides: dict[str, Any] = {}
    for name in _FIELDS:
        value = headers.get(f"x-sim-{name.replace('_', '-')}")
        if value is not None:
            overrides[name] = value
    match = _DIRECTIVE.search(last_user_text)
    if match:
        for pair in match.group(1).split():
            key, _, value = pair.partition("=")
            if key in _FIELDS:
                overrides[key] = value or "1"
    chosen = dataclasses.replace(defaults, **{k: _parse(k, v) for k, v in overrides.items()})
    if chosen.models is not None and not _targets(chosen.models, model):
        return defaults
    return chosen


def _targets(models: tuple[str, ...], model: str) -> bool:
    """`model` is listed, by its full id or by its last path segment (`meta-llama/X` as `X`)."""
    return model in models or model.rsplit("/", 1)[-1] in models


def directive_key(last_user_text: str) -> str | None:
    """The directive text itself, used to count `fail_times` per distinct directive."""
    match = _DIRECTIVE.search(last_user_text)
    return match.group(0) if match else None


def _parse(name: str, value: str) -> Any:
    if name == "models":
        return tuple(m for m in value.split(",") if m)
    if name in ("hang", "malformed"):
        return value.lower() in ("1", "true", "yes")
    if name in ("tokens", "fail", "cut_after", "fail_times", "context"):
        return int(value)
    return float(value)
