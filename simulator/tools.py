"""Values a simulated model writes: tool calls with plausible arguments, JSON answers valid against a schema."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

_SAMPLES: dict[str, Any] = {"string": "sim", "integer": 1, "number": 1.5, "boolean": True, "null": None}
_FORMATS = {"date-time": "2026-01-15T10:00:00Z", "date": "2026-01-15", "time": "10:00:00", "email": "sim@example.com",
            "uri": "https://example.com", "uuid": "00000000-0000-4000-8000-000000000000"}


def planned_call(name: str, schema: Any, id_prefix: str) -> dict[str, Any]:
    """`{"id", "name", "arguments"}` with arguments as a JSON string, as engine.SimRequest.tool_call holds it."""
    arguments = orjson.dumps(sample_arguments(schema)).decode()
    return {"id": id_prefix + uuid.uuid4().hex[:20], "name": name, "arguments": arguments}


def sample_arguments(schema: Any) -> dict[str, Any]:
    """An object valid against `schema`: a value for each required property."""
    value = sample_value(schema) if isinstance(schema, dict) else {}
    return value if isinstance(value, dict) else {}


def sample_json(schema: Any) -> str:
    """The JSON text a model asked for JSON answers: valid against `schema` (any object when there is none)."""
    if not isinstance(schema, dict):
        return orjson.dumps({"resposta": "sim"}).decode()
    return orjson.dumps(sample_value(schema)).decode()


def sample_value(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """The simplest value valid against a JSON Schema (the subset structured outputs use: objects, arrays,
    enums, const, anyOf/oneOf, local $refs, bounds), in OpenAPI's spelling too (upper-case types, nullable)."""
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return sample_value(target, defs, depth + 1) if isinstance(target, dict) and depth < 8 else {}
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if isinstance(o, dict)]
        if options:
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return sample_value(chosen, defs, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: sample_value(properties.get(name) or {}, defs, depth + 1)
                for name in schema.get("required") or [] if depth < 16}
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [sample_value(items, defs, depth + 1) for _ in range(int(schema.get("minItems") or 0))]
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), "sim" + "m" * max(0, int(schema.get("minLength") or 0) - 3))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = _SAMPLES[kind] if low is None else (int(low) + 1 if kind == "integer" else float(low) + 0.5)
        high = schema.get("maximum")
        return value if high is None or value <= high else high
    return _SAMPLES.get(kind, "sim")
