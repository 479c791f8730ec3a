"""Commands that only read: list, show, ready, history."""

from __future__ import annotations

import json

import click

from ledger import Json, Record, State, Status, Task
from ledger._timeparse import parse_time

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

STATUS = click.Choice([s.value for s in Status])


def _rows(state: State, tasks: list[Task], now_ms: int) -> str:
    rows = []
    for t in tasks:
        subject = elide(t.subject, 72)
        blockers = state.open_blockers(t) if not t.deleted else ()
        if blockers:
            subject += f"  [blocked by {short_list(state, blockers)}]"
        if t.deleted:
            subject += "  [deleted]"
        elif t.lease is not None and t.holder(now_ms) is None and not t.lease.live(now_ms):
            subject += "  [lease ran out]"
        rows.append((state.short(t.id), t.status.value, t.owner or "-", subject))
    return table(("ID", "STATUS", "OWNER", "SUBJECT"), rows)


def print_tasks(env: Env, state: State, tasks: list[Task]) -> None:
    """Print tasks as a table, or as a JSON array."""
    if env.as_json:
        now = env.ledger.clock()
        emit_json([task_json(t, state, now) for t in tasks])
    elif tasks:
        click.echo(_rows(state, tasks, env.ledger.clock()))
    else:
        click.echo("no tasks", err=True)


@click.command("list")
@click.option("--status", "statuses", multiple=True, type=STATUS, help="Only these statuses.")
@click.option("--owner", help="Only tasks owned by NAME.", metavar="NAME")
@click.option("--ready", "only_ready", is_flag=True, help="Only tasks ready to start.")
@click.option("--all", "show_all", is_flag=True, help="Include deleted tasks.")
@ledger_command
def list_tasks(
    env: Env, statuses: tuple[str, ...], owner: str | None, only_ready: bool, show_all: bool
) -> None:
    """List tasks, oldest first."""
    state = env.ledger.state()
    tasks = list(state.tasks.values()) if show_all else list(state.live())
    if statuses:
        tasks = [t for t in tasks if t.status.value in statuses]
    if owner is not None:
        tasks = [t for t in tasks if t.owner == owner]
    if only_ready:
        now = env.ledger.clock()
        tasks = [t for t in tasks if state.is_ready(t, now)]
    print_tasks(env, state, tasks)


def _value(value: Json) -> str:
    if isinstance(value, str):
        return elide(value, 40) if value else '""'
    return elide(json.dumps(value, ensure_ascii=False), 40)


@click.command()
@click.argument("task_id", metavar="ID")
@ledger_command
def show(env: Env, task_id: str) -> None:
    """Show one task with its notes, and who created and last changed it."""
    state = env.ledger.state()
    task = state.find(task_id)
    if env.as_json:
        emit_json(task_json(task, state, env.ledger.clock()))
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
        lines.append((f"meta {key}", _value(value)))
    if task.lease is not None:
        lines.append(("lease", lease_text(task, env.ledger.clock())))
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
    click.echo("\n".join(out))


def _summary(state: State, record: Record) -> str:
    parts = []
    fields = record.fields
    for name, change in fields.items():
        if name == "note" and isinstance(change, str):
            parts.append(f"note {_value(change)}")
        elif name in ("metadata", "blockedBy", "blocks") and isinstance(change, dict):
            for key, sub in change.items():
                label = key if name == "metadata" else state.short(key)
                parts.append(_change(f"{name}.{label}", sub))
        else:
            parts.append(_change(name, change))
    return ", ".join(parts)


def _change(name: str, change: Json) -> str:
    if isinstance(change, dict) and "new" in change:
        old = change.get("old")
        if old is None:
            return f"{name}={_value(change['new'])}"
        return f"{name}: {_value(old)} → {_value(change['new'])}"
    return f"{name}={_value(change)}"


@click.command()
@click.argument("task_id", metavar="[ID]", required=False)
@click.option("--session", "by_session", metavar="S", help="Only ops by session S.")
@click.option("--since", metavar="TIME", help="Only ops since TIME (ISO 8601, or 10m, 2h, 3d).")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Only the latest N ops.")
@reader_command
def history(
    env: Env, task_id: str | None, by_session: str | None, since: str | None, limit: int | None
) -> None:
    """The audit trail: every op in causal order, with what it changed."""
    since_ms = None if since is None else parse_time(since, env.ledger.clock())
    records = env.ledger.history(task_id, session=by_session, since_ms=since_ms, limit=limit)
    if env.as_json:
        emit_json_lines(record_json(r) for r in records)
        return
    state = env.ledger.state()
    rows = []
    for r in records:
        task = state.tasks.get(r.task)
        subject = elide(task.subject, 24) if task else ""
        rows.append(
            (
                r.at.replace("T", " ")[:19],
                r.session,
                r.kind,
                state.short(r.task),
                subject,
                _summary(state, r),
            )
        )
    if rows:
        click.echo(table(("TIME", "SESSION", "OP", "TASK", "SUBJECT", "CHANGES"), rows))
    else:
        click.echo("no history", err=True)
