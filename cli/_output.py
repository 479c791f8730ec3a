"""Rendering for humans (aligned, short ids) and for machines (stable JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ledger import Json, Record, Stamp, State, Task


def emit_json(value: Any) -> None:
    """Print one JSON document."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def emit_json_lines(values: Iterable[Any]) -> None:
    """Print one compact JSON object per line."""
    click.echo(
        "".join(json.dumps(v, ensure_ascii=False, separators=(",", ":")) + "\n" for v in values),
        nl=False,
    )


def stamp_json(stamp: Stamp | None) -> Json:
    """A stamp as JSON (see docs/cli.md)."""
    return None if stamp is None else stamp.to_json()


def task_json(task: Task, state: State, now_ms: int) -> dict[str, Json]:
    """A task as JSON: Claude Code's fields first, then taskledger's (docs/cli.md)."""
    out: dict[str, Json] = {
        "id": task.id,
        "subject": task.subject,
        "description": task.description,
        "activeForm": task.active_form,
        "status": task.status.value,
        "owner": task.owner,
        "blocks": list(task.blocks),
        "blockedBy": list(task.blocked_by),
        "metadata": task.meta(),
    }
    out["shortId"] = state.short(task.id)
    out["openBlockers"] = list(state.open_blockers(task)) if not task.deleted else []
    out["ready"] = state.is_ready(task, now_ms)
    lease = task.lease
    out["lease"] = (
        None
        if lease is None
        else {
            "holder": lease.holder,
            "until": lease.until,
            "live": task.holder(now_ms) is not None,
            "since": lease.stamp.at,
        }
    )
    out["deleted"] = task.deleted
    out["notes"] = [{"text": n.text, **n.stamp.to_json()} for n in task.notes]
    out["created"] = stamp_json(task.created)
    out["updated"] = stamp_json(task.updated)
    return out


def record_json(record: Record, state: State | None = None) -> dict[str, Json]:
    """An op as JSON: the same keys for ``history --json``, ``watch --json`` and ``export``."""
    task = None if state is None else state.tasks.get(record.task)
    return {
        "at": record.at,
        "hlc": record.hlc.to_json(),  # type: ignore[dict-item]
        "session": record.session,
        "writer": record.writer,
        "seq": record.seq,
        "op": record.kind,
        "task": record.task,
        "subject": None if task is None else task.subject,
        "fields": record.fields,
    }


def elide(text: str, width: int) -> str:
    """One line of at most ``width`` characters: whitespace runs become one space."""
    if len(text) <= width and text.isprintable() and "  " not in text and text.strip() == text:
        return text  # the common case, without splitting
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns; the last column is not padded."""
    every = [tuple(headers), *map(tuple, rows)]
    widths = [max(map(len, column)) for column in list(zip(*every, strict=True))[:-1]]
    pattern = "  ".join(f"%-{w}s" for w in widths) + "  %s"  # %: faster than format here
    return "\n".join(map(str.rstrip, map(pattern.__mod__, every)))


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
    if task.holder(now_ms) is not None:
        return f"held by {lease.holder} until {lease.until} ({ago(lease.until_ms - now_ms)} left)"
    if lease.live(now_ms):
        return f"{lease.holder}'s claim ended with the task ({task.status.value})"
    return f"{lease.holder}'s lease ran out at {lease.until} ({ago(now_ms - lease.until_ms)} ago)"
