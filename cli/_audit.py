"""The audit trail beyond history: conflicts, blame, export."""

from __future__ import annotations

import csv
import io
import json

import click

from ledger import Json, conflict_json, record_json

from ._options import Env, format_option, json_or_nothing, ledger_command
from ._output import (
    clean,
    clock_time,
    elide,
    emit_json,
    emit_json_lines,
    table,
    terminal_width,
    value_text,
    when,
)


@click.command()
@click.argument("task_id", metavar="[ID]", required=False)
@ledger_command
def conflicts(env: Env, task_id: str | None) -> None:
    """Same-field writes whose value lost to a concurrent write (neither saw the other).

    A value overwritten by someone who had seen it is an ordinary edit and
    is not listed. Lost values are never dropped: here they are, with both
    writers and times.
    """
    found = env.ledger.conflicts(task_id)
    state = env.ledger.seen()
    if json_or_nothing(env, found, lambda c: conflict_json(c, state), "no conflicts"):
        return
    rows = []
    for c in found:
        lost, won = c.lost.record, c.won.record
        field = elide(c.register, 40)
        if field.startswith("blockedBy."):
            field = f"blockedBy.{state.short(c.register[10:])}"
        rows.append(
            (
                state.short(c.task),
                field,
                _side(c.lost.change.new, lost.session, lost.at),
                _side(c.won.change.new, won.session, won.at),
            )
        )
    click.echo(table(("TASK", "FIELD", "LOST", "LOST TO"), rows, terminal_width()))


def _side(value: Json, session: str, at: str) -> str:
    return f"{value_text(value)} ({elide(session, 24)} {clock_time(at)})"


@click.command()
@click.argument("task_id", metavar="ID")
@ledger_command
def blame(env: Env, task_id: str) -> None:
    """For each current field of a task: who set it, and when."""
    lines = env.ledger.blame(task_id)
    if env.as_json:
        emit_json([{"field": f, "value": v, **s.to_json()} for f, v, s in lines])
        return
    state = env.ledger.seen()
    rows = []
    for field, value, stamp in lines:
        shown = f"blockedBy.{state.short(field[10:])}" if field.startswith("blockedBy.") else field
        rows.append((elide(shown, 40), value_text(value, 48), clean(stamp.session), when(stamp.at)))
    click.echo(table(("FIELD", "VALUE", "SET BY", "AT"), rows, terminal_width()))


CSV_COLUMNS = (
    "at", "hlc_ms", "hlc_counter", "session", "writer", "seq", "op", "task",
    "field", "old", "new", "base",
)  # fmt: skip


def _cell(value: Json) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@click.command()
@format_option(
    ["jsonl", "csv"],
    "jsonl: one op per line (history --json keys); csv: one changed field per row.",
)
@ledger_command
def export(env: Env, fmt: str) -> None:
    """Every op of every session, merged in HLC order, for outside audit tools."""
    records = env.ledger.history()
    state = env.ledger.seen()
    if fmt == "jsonl":
        emit_json_lines(record_json(r, state) for r in records)
        return
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for r in records:
        head = [r.at, r.hlc.ms, r.hlc.counter, r.session, r.writer, r.seq, r.kind, r.task]
        for field, change in _flatten(r.fields):
            if isinstance(change, dict):
                row = [
                    field,
                    _cell(change.get("old")),
                    _cell(change.get("new")),
                    change.get("base") or "",
                ]
            else:
                row = [field, "", _cell(change), ""]
            out.writerow([*head, *row])
    click.echo(buffer.getvalue(), nl=False)


def _flatten(fields: dict[str, Json]) -> list[tuple[str, Json]]:
    out: list[tuple[str, Json]] = []
    for name, change in fields.items():
        if name in ("metadata", "blockedBy", "blocks") and isinstance(change, dict):
            out += [(f"{name}.{key}", sub) for key, sub in change.items()]
        else:
            out.append((name, change))
    return out
