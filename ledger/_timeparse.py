"""Times on the command line: ISO 8601 or relative (``10m``, ``2h``, ``3d``), and how they print."""

from __future__ import annotations

import datetime as _dt
import re
import time

from ._errors import InvalidValue

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def wall_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def parse_time(text: str, now_ms: int) -> int:
    """Turn a time argument into epoch milliseconds.

    Args:
        text: ``now``, ``2026-11-23T21:54:00Z``, ``2026-11-23``, ``10m`` (ago), ``2h``,
            ``3d``... An ISO time without a zone is taken as UTC.
        now_ms: the present, for relative forms.

    Raises:
        InvalidValue: when the text is neither form.
    """
    value = text.strip()
    problem = InvalidValue(
        f"cannot read {text!r} as a time: use ISO 8601 (2026-11-23T21:54:00Z) "
        "or a relative form like 10m, 2h, 3d, or now"
    )
    if value.lower() == "now":
        return now_ms
    match = _RELATIVE.fullmatch(value)
    try:
        if match:
            ago = float(match.group(1)) * _UNIT_MS[match.group(2)]
            if ago > 1e15:
                raise problem
            return now_ms - int(ago)
        moment = _dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.UTC)
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise problem from None


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 UTC with milliseconds.

    Args:
        ms: milliseconds since the Unix epoch.

    Returns:
        A string like ``2026-11-23T21:54:00.123Z``.
    """
    try:
        moment = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"@{ms}ms"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
