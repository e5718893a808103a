"""The tool call a simulated model makes: the chosen tool, with plausible values for its required arguments."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

_SAMPLES: dict[str, Any] = {"string": "sim", "integer": 1, "number": 1.5, "boolean": True, "array": [],
                            "object": {}}


def planned_call(name: str, schema: Any, id_prefix: str) -> dict[str, Any]:
    """`{"id", "name", "arguments"}` with arguments as a JSON string, as engine.SimRequest.tool_call holds it."""
    arguments = orjson.dumps(sample_arguments(schema)).decode()
    return {"id": id_prefix + uuid.uuid4().hex[:20], "name": name, "arguments": arguments}


def sample_arguments(schema: Any) -> dict[str, Any]:
    """A value for each required property (the first enum value when there is one)."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties") or {}
    values: dict[str, Any] = {}
    for name in schema.get("required") or []:
        spec = properties.get(name) or {}
        enum = spec.get("enum")
        kind = str(spec.get("type", "string")).lower()
        values[name] = enum[0] if enum else _SAMPLES.get(kind, "sim")
    return values
