"""Rendering for humans (aligned, short ids, terminal-safe) and for machines (exact JSON).

Everything shown to a person comes from logs and task files that other
sessions wrote, so it is untrusted: ``clean`` turns every C0 and C1 control
character, DEL and the Unicode controls that reorder or hide text into a
visible escape (``\\x1b``, ``\\u202e``), so no stored text can move the
cursor, retitle the terminal, hide lines or fake output. ``--json`` output
is exact (JSON escapes what it must).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import click

from ledger import iso_ms

if TYPE_CHECKING:  # a list answered from the snapshot never loads the model
    from ledger import Json, State, Task

# C0 controls but newline, DEL, C1 controls, and the bidi / invisible format controls
_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
OWNER_WIDTH = 16


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, *, lines: bool = False) -> str:
    """Text made safe to print: every control character shown as an escape.

    Args:
        text: untrusted text.
        lines: keep newlines (for a description or a note shown as a block).
    """
    pattern = _UNSAFE if lines else _UNSAFE_LINE
    return pattern.sub(_escape, text) if pattern.search(text) else text


# what JSON may carry raw but a terminal could act on: DEL, C1 and the format controls
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON (no NaN or Infinity) in which no character can act on a terminal.

    JSON escapes C0 controls itself; the others are written as ``\\uXXXX``
    escapes too (they can only occur inside strings), so the value read back
    is exactly the same.
    """
    separators = None if indent is not None else (",", ":")
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators,
                      allow_nan=False)  # fmt: skip
    return _JSON_UNSAFE.sub(_json_escape, text) if _JSON_UNSAFE.search(text) else text


def emit_json(value: Any) -> None:
    """Print one JSON document (strict: no NaN or Infinity)."""
    click.echo(json_text(value, indent=2))


def emit_json_lines(values: Iterable[Any]) -> None:
    """Print one compact JSON object per line."""
    click.echo("".join(json_text(v) + "\n" for v in values), nl=False)


def elide(text: str, width: int) -> str:
    """One safe line of at most ``width`` characters: whitespace runs become one space."""
    if len(text) <= width and text.isprintable() and "  " not in text and text.strip() == text:
        return text  # the common case, without splitting
    flat = " ".join(clean(" ".join(text.split())).split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def when(iso: str) -> str:
    """An ISO 8601 UTC time as people read it: ``2026-11-23 21:54:00Z``.

    A time from a log is untrusted: anything not of that form is shown escaped.
    """
    if _ISO.fullmatch(iso):
        return iso[:19].replace("T", " ") + "Z"
    return clean(iso[:40])


def clock_time(iso: str) -> str:
    """The time of day of an ISO 8601 UTC time, to the millisecond: ``21:54:00.123Z``."""
    if _ISO.fullmatch(iso):
        return iso[11:23].rstrip("Z") + "Z"
    return clean(iso[:40])


def when_ms(ms: int) -> str:
    """Epoch milliseconds as ``when`` shows them."""
    return when(iso_ms(ms))


def terminal_width() -> int | None:
    """The width to fit lines to: ``$COLUMNS`` if set, else the terminal's; None for a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 20:
        return int(columns)
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    # what shutil.get_terminal_size((100, 24)) answers, without importing shutil
    try:
        return max(int(columns), 0) or _terminal_columns()
    except ValueError:
        return _terminal_columns()


def _terminal_columns() -> int:
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 100  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 100


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], width: int | None = None) -> str:
    """Left-aligned columns; the last column is not padded, and is cut to ``width`` if given."""
    every = [tuple(headers), *map(tuple, rows)]
    pattern = row_pattern(every)
    lines = map(str.rstrip, map(pattern.__mod__, every))
    if width is None:
        return "\n".join(lines)
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)


def row_pattern(every: Sequence[tuple[str, ...]]) -> str:
    """The ``%`` pattern that left-aligns these rows' columns (the last one unpadded)."""
    columns = len(every[0]) if every else 0
    # (a column at a time through itemgetter: three times faster than zip(*every))
    widths = [max(map(len, map(itemgetter(k), every))) for k in range(columns - 1)]
    return "".join(f"%-{w}s  " for w in widths) + "%s"


def short_list(state: State, ids: Iterable[str]) -> str:
    """Ids as short ids, comma separated, or '-'."""
    shown = [state.short(i) for i in ids]
    return ", ".join(shown) if shown else "-"


def ago(ms: int) -> str:
    """A duration in milliseconds, short: ``45s``, ``12m``, ``3h05m``, ``2d``."""
    seconds = max(ms, 0) // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


def lease_text(task: Task, now_ms: int) -> str:
    """``held by alice until …Z (29m left)`` or ``alice's lease ran out at …Z (3m ago)``."""
    lease = task.lease
    if lease is None:
        return "-"
    holder = clean(lease.holder)
    until = when_ms(lease.until_ms)
    if task.holder(now_ms) is not None:
        return f"held by {holder} until {until} ({ago(lease.until_ms - now_ms)} left)"
    if lease.live(now_ms):
        return f"{holder}'s claim ended with the task ({task.status.value})"
    return f"{holder}'s lease ran out at {until} ({ago(now_ms - lease.until_ms)} ago)"


def value_text(value: Json, width: int = 40) -> str:
    """A value on one safe line, elided."""
    if isinstance(value, str):
        return elide(value, width) if value else '""'
    return elide(json.dumps(value, ensure_ascii=False), width)


def progress(message: str) -> None:
    """Say on stderr, when it is a terminal, that long work is under way."""
    try:
        if sys.stderr.isatty():
            click.echo(message, err=True)
    except (AttributeError, ValueError):
        pass
