"""Strict JSON for everything the ledger reads and writes.

Strict means: no ``NaN`` or ``Infinity`` either way (other parsers reject
them), no string that is not valid Unicode (an unpaired ``\\ud800`` escape
is valid JSON but cannot be written out as UTF-8), and nesting bounded by
``MAX_DEPTH`` -- a value nested a thousand levels deep makes every later
recursive walk (rendering, re-encoding) fail, so it is refused at the door.
"""

from __future__ import annotations

import json
from typing import Any

#: the deepest nesting of arrays and objects a stored value may have
MAX_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


_decode = json.JSONDecoder(parse_constant=_no_constant).decode
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def loads(text: str | bytes, *, depth: int | None = MAX_DEPTH) -> Any:
    """Parse strict JSON.

    Args:
        text: the JSON text.
        depth: refuse values nested deeper than this, and strings that are not
            valid Unicode; None for the ledger's own derived files (its cache),
            which hold only what already passed these checks on the way in.

    Raises:
        ValueError: for anything that is not strict JSON (within ``depth`` levels).
    """
    if isinstance(text, bytes):
        text = text.decode()
    try:
        value = _decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if depth is not None:
        check(text, value, depth)
    return value


def check(text: str, value: Any, depth: int = MAX_DEPTH) -> None:
    """Refuse a parsed value nested deeper than ``depth`` or holding invalid Unicode.

    ``text`` is what was parsed; the checks only walk the value when the text
    could hold a problem (enough brackets, a surrogate escape).

    Raises:
        ValueError: naming the problem.
    """
    if text.count("[") + text.count("{") > depth and nesting(value) > depth:
        raise ValueError(f"nested deeper than {depth} levels")
    if "\\ud" in text.lower() and not unicode_ok(value):
        raise ValueError("invalid Unicode (an unpaired surrogate escape)")


def nesting(value: Any) -> int:
    """How deeply arrays and objects nest in a value (0 for a scalar); no recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def unicode_ok(value: Any) -> bool:
    """False when a value holds a string that cannot be encoded as UTF-8."""
    try:
        _encode(value).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False
    return True


def dumps(value: Any) -> str:
    """Compact strict JSON text (UTF-8 characters kept as they are).

    Raises:
        ValueError: for NaN or Infinity; TypeError for what is not JSON.
    """
    return _encode(value)


def dumps_bytes(value: Any) -> bytes:
    """``dumps`` as UTF-8 bytes."""
    return _encode(value).encode()


def pretty(value: Any) -> str:
    """Indented strict JSON (for people and for Claude Code's files)."""
    return json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
