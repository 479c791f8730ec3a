"""Commands that only read: list, show, ready, history."""

from __future__ import annotations

import json
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING

import click

from ledger._errors import NotFound
from ledger._state import OP_KINDS, STATUSES
from ledger._timeparse import iso_ms, parse_time

from ._options import Env, ledger_command, reader_command
from ._output import (
    elide,
    emit_json,
    emit_json_lines,
    lease_text,
    record_json,
    short_list,
    table,
    task_json,
)

if TYPE_CHECKING:  # a list answered from the cache never loads the model
    from ledger import Json, Record, Row, State

STATUS = click.Choice(STATUSES)
_SHORT, _STATUS, _OWNER, _SUBJECT = map(attrgetter, ("short", "status", "owner", "subject"))


def _table(state: State, rows: list[Row], now_ms: int) -> str:
    """The task table: most of a warm ``list``, so it works column by column.

    Every row costs a few C-level steps; only rows that are deleted,
    blocked or have a lease get a Python-level look.
    """
    subjects = list(map(elide, map(_SUBJECT, rows), repeat(72)))
    blocked_by = state.edges.blocked_by
    special = [
        i
        for i, r in enumerate(rows)
        if r.deleted or r.lease_until is not None or r.id in blocked_by
    ]
    for i in special:
        row = rows[i]
        if row.deleted:
            subjects[i] += "  [deleted]"
            continue
        if row.id in blocked_by:
            blockers = state.open_blockers(row)
            if blockers:
                subjects[i] += f"  [blocked by {short_list(state, blockers)}]"
        lease = row.lease_until
        if lease is not None and lease <= now_ms and row.status != "completed":
            subjects[i] += "  [lease ran out]"
    owners = [owner or "-" for owner in map(_OWNER, rows)]
    return table(
        ("ID", "STATUS", "OWNER", "SUBJECT"),
        zip(map(_SHORT, rows), map(_STATUS, rows), owners, subjects, strict=True),
    )


def print_tasks(env: Env, state: State, rows: list[Row], now: int | None = None) -> None:
    """Print tasks as a table (from their rows alone), or as a JSON array of whole tasks."""
    now = env.ledger.clock() if now is None else now
    if env.as_json:
        emit_json([task_json(state.tasks[r.id], state, now) for r in rows])
    elif rows:
        click.echo(_table(state, rows, now))
    else:
        click.echo("no tasks", err=True)


AT = click.option(
    "--at",
    metavar="TIME",
    help="The state as of TIME (ISO 8601, or 10m, 2h, 3d ago): time travel.",
)


def state_at(env: Env, at: str | None) -> tuple[State, int]:
    """The state now, or as of ``--at``; and the moment it stands for (epoch ms)."""
    now = env.ledger.clock()
    if at is None:
        return env.ledger.state(), now
    moment = parse_time(at, now)
    return env.ledger.state_at(moment), moment


@click.command("list")
@click.option("--status", "statuses", multiple=True, type=STATUS, help="Only these statuses.")
@click.option("--owner", help="Only tasks owned by NAME.", metavar="NAME")
@click.option("--ready", "only_ready", is_flag=True, help="Only tasks ready to start.")
@click.option("--all", "show_all", is_flag=True, help="Include deleted tasks.")
@AT
@ledger_command
def list_tasks(
    env: Env,
    statuses: tuple[str, ...],
    owner: str | None,
    only_ready: bool,
    show_all: bool,
    at: str | None,
) -> None:
    """List tasks, oldest first."""
    state, now = state_at(env, at)
    rows = list(state.rows.values()) if show_all else list(state.live_rows())
    if statuses:
        rows = [r for r in rows if r.status in statuses]
    if owner is not None:
        rows = [r for r in rows if r.owner == owner]
    if only_ready:
        rows = [r for r in rows if state.is_ready(r, now)]
    print_tasks(env, state, rows, now)


def value_text(value: Json) -> str:
    """A value on one line, elided."""
    if isinstance(value, str):
        return elide(value, 40) if value else '""'
    return elide(json.dumps(value, ensure_ascii=False), 40)


@click.command()
@click.argument("task_id", metavar="ID")
@AT
@ledger_command
def show(env: Env, task_id: str, at: str | None) -> None:
    """Show one task with its notes, lease, and who created and last changed it."""
    state, now = state_at(env, at)
    try:
        task = state.find(task_id)
    except NotFound as exc:
        if at is None:
            raise
        raise NotFound(f"{exc} as of {iso_ms(now)}") from exc
    if env.as_json:
        emit_json(task_json(task, state, now))
        return
    lines = [
        ("id", f"{task.id}  ({state.short(task.id)})"),
        ("subject", task.subject),
        ("status", task.status.value + ("  [deleted]" if task.deleted else "")),
        ("owner", task.owner or "-"),
    ]
    if task.active_form:
        lines.append(("active form", task.active_form))
    blocked = [f"{state.short(b)} ({state.tasks[b].status.value})" for b in task.blocked_by]
    lines.append(("blocked by", ", ".join(blocked) or "-"))
    lines.append(("blocks", short_list(state, task.blocks)))
    for key, value in task.metadata:
        lines.append((f"meta {key}", value_text(value)))
    if task.lease is not None:
        lines.append(("lease", lease_text(task, now)))
    for label, stamp in (("created", task.created), ("updated", task.updated)):
        if stamp is not None:
            lines.append((label, f"{stamp.at} by {stamp.session}"))
    width = max(len(k) for k, _ in lines)
    out = [f"{k.ljust(width)}  {v}" for k, v in lines]
    if task.description:
        out += ["", "description:", *("  " + ln for ln in task.description.splitlines())]
    if task.notes:
        out += ["", "notes:"]
        for n in task.notes:
            out.append(f"  {n.stamp.at} {n.stamp.session}:")
            out += ["    " + ln for ln in n.text.splitlines()]
    if at is not None:
        out = [f"(as of {iso_ms(now)})", *out]
    click.echo("\n".join(out))


def summary(state: State, record: Record) -> str:
    """The changes of an op on one line: ``field: old → new``, long values elided."""
    parts = []
    fields = record.fields
    for name, change in fields.items():
        if name == "note" and isinstance(change, str):
            parts.append(f"note {value_text(change)}")
        elif name in ("metadata", "blockedBy", "blocks") and isinstance(change, dict):
            for key, sub in change.items():
                label = key if name == "metadata" else state.short(key)
                parts.append(change_text(f"{name}.{label}", sub))
        else:
            parts.append(change_text(name, change))
    return ", ".join(parts)


def change_text(name: str, change: Json) -> str:
    """``name: old → new`` (or ``name=new`` without an old value)."""
    if isinstance(change, dict) and "new" in change:
        old = change.get("old")
        if old is None:
            return f"{name}={value_text(change['new'])}"
        return f"{name}: {value_text(old)} → {value_text(change['new'])}"
    return f"{name}={value_text(change)}"


@click.command()
@click.argument("task_id", metavar="[ID]", required=False)
@click.option("--session", "by_session", metavar="S", help="Only ops by session S.")
@click.option("--since", metavar="TIME", help="Only ops since TIME (ISO 8601, or 10m, 2h, 3d).")
@click.option("--until", metavar="TIME", help="Only ops until TIME (same forms).")
@click.option(
    "--op",
    "ops",
    multiple=True,
    type=click.Choice(OP_KINDS),
    help="Only ops of this kind (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Only the latest N ops.")
@reader_command
def history(
    env: Env,
    task_id: str | None,
    by_session: str | None,
    since: str | None,
    until: str | None,
    ops: tuple[str, ...],
    limit: int | None,
) -> None:
    """The audit trail: every op in causal (HLC) order, with what it changed, old → new."""
    now = env.ledger.clock()
    records = env.ledger.history(
        task_id,
        session=by_session,
        since_ms=None if since is None else parse_time(since, now),
        until_ms=None if until is None else parse_time(until, now),
        ops=ops,
        limit=limit,
    )
    state = env.ledger.state()
    if env.as_json:
        emit_json_lines(record_json(r, state) for r in records)
        return
    rows = []
    for r in records:
        task = state.tasks.get(r.task)
        subject = elide(task.subject, 24) if task else ""
        rows.append(
            (
                r.at.replace("T", " ")[:23],
                r.session,
                r.kind,
                state.short(r.task),
                subject,
                summary(state, r),
            )
        )
    if rows:
        click.echo(table(("TIME", "SESSION", "OP", "TASK", "SUBJECT", "CHANGES"), rows))
    else:
        click.echo("no history", err=True)
