"""Tool input schemas, written out by hand, and the check every call's arguments pass.

The schemas are flat JSON Schema objects; ``check`` enforces exactly what
they say (types, enums, minimums, unknown and missing arguments), so a bad
call gets a tool error that names the argument, never a traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger import DEFAULT_LEASE_S, Json


class BadArguments(Exception):
    """A call whose arguments do not fit the tool's schema."""


# ----------------------------------------------------------------- schemas

STR = {"type": "string"}
ID = {
    "type": "string",
    "description": "Task id (or a unique prefix of it, at least 4 characters).",
}
IDS = {"type": "array", "items": {"type": "string"}}
LEASE = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": f"How long the claim lasts unless renewed (default {DEFAULT_LEASE_S} seconds). "
    "Any update or note you make on the task renews it.",
}


def schema(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A flat object schema: these properties, these required, nothing else."""
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, description for the model, input schema and implementation."""

    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[Any, dict[str, Any]], Json]


# ---------------------------------------------------------- argument checks


def check(args: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Check ``args`` against a flat schema; return them as a dict (nulls dropped).

    Raises:
        BadArguments: naming the argument and what is wrong with it.
    """
    if not isinstance(args, Mapping):
        raise BadArguments("arguments must be an object")
    props = schema["properties"]
    for key in args:
        if key not in props:
            raise BadArguments(f"unknown argument {key!r} (known: {', '.join(props)})")
    for key in schema["required"]:
        if args.get(key) is None:
            raise BadArguments(f"missing required argument {key!r}")
    for key, value in args.items():
        if value is None:
            continue  # an optional argument given as null means: not given
        _check_value(key, value, props[key])
    return {k: v for k, v in args.items() if v is not None}


def _check_value(key: str, value: Any, prop: dict[str, Any]) -> None:
    kind = str(prop["type"])
    ok = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: type(v) is int,
        "number": lambda v: type(v) in (int, float) and math.isfinite(v),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    }[kind](value)
    if not ok:
        expected = "array of strings" if kind == "array" else kind
        raise BadArguments(f"argument {key!r} must be {expected}, not {json.dumps(value)[:60]}")
    if "enum" in prop and value not in prop["enum"]:
        raise BadArguments(f"argument {key!r} must be one of {', '.join(prop['enum'])}")
    if (
        kind in ("integer", "number")
        and "exclusiveMinimum" in prop
        and not value > prop["exclusiveMinimum"]
    ):
        raise BadArguments(f"argument {key!r} must be greater than {prop['exclusiveMinimum']}")
    if kind == "integer" and "minimum" in prop and value < prop["minimum"]:
        raise BadArguments(f"argument {key!r} must be at least {prop['minimum']}")
