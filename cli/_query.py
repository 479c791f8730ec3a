"""Commands that only read: list, show, history."""

from __future__ import annotations

from itertools import compress, repeat
from operator import attrgetter, is_not
from typing import TYPE_CHECKING

import click

from ledger import OP_KINDS, STATUSES, NotFound, iso_ms, record_json, task_json

from ._options import Env, Moment, ledger_command, reader_command
from ._output import (
    OWNER_WIDTH,
    clean,
    elide,
    emit_json,
    emit_json_lines,
    lease_text,
    short_list,
    table,
    terminal_width,
    value_text,
    when,
    when_ms,
)

if TYPE_CHECKING:  # a list answered from the snapshot never loads the model
    from ledger import Json, Record, Row, State

    from ._memo import LineMemo

STATUS = click.Choice(STATUSES)
_SHORT, _STATUS, _OWNER, _SUBJECT = map(attrgetter, ("short", "status", "owner", "subject"))
_ID, _DELETED, _LEASE = map(attrgetter, ("id", "deleted", "lease_until"))


def _owner(owner: str) -> str:
    return elide(owner, OWNER_WIDTH) if owner else "-"


#: the server's memo of table lines (``cli._memo``); None in a command's own process
MEMO: LineMemo | None = None
HEADERS = ("ID", "STATUS", "OWNER", "SUBJECT")


def _cells(row: Row) -> tuple[str, str, str, str]:
    return row.short, row.status, _owner(row.owner), elide(row.subject, 72)


def _marked(state: State, row: Row, now_ms: int) -> str:
    """The subject of a deleted, blocked or leased row, with what it is marked by."""
    subject = elide(row.subject, 72)
    if row.deleted:
        return subject + "  [deleted]"
    if row.id in state.edges.blocked_by:
        blockers = state.open_blockers(row)
        if blockers:
            subject += f"  [blocked by {short_list(state, blockers)}]"
    lease = row.lease_until
    if lease is not None and lease <= now_ms and row.status != "completed":
        subject += "  [lease ran out]"
    return subject


def _table(state: State, rows: list[Row], now_ms: int) -> str:
    """The task table: most of a warm ``list``, so it works column by column.

    Every row costs a few C-level steps; only rows that are deleted,
    blocked or have a lease get a Python-level look.
    """
    n = range(len(rows))
    special = set(compress(n, map(_DELETED, rows)))  # (each at C speed)
    special.update(compress(n, map(is_not, map(_LEASE, rows), repeat(None))))
    special.update(compress(n, map(state.edges.blocked_by.__contains__, map(_ID, rows))))
    marked = {i: _marked(state, rows[i], now_ms) for i in sorted(special)}
    if MEMO is not None:
        return MEMO.table(HEADERS, rows, marked, _cells, terminal_width())
    subjects = list(map(elide, map(_SUBJECT, rows), repeat(72)))
    for i, subject in marked.items():
        subjects[i] = subject
    owners = list(map(_owner, map(_OWNER, rows)))
    return table(
        HEADERS,
        zip(map(_SHORT, rows), map(_STATUS, rows), owners, subjects, strict=True),
        terminal_width(),
    )


def print_tasks(
    env: Env, state: State, rows: list[Row], now: int, limit: int | None = None
) -> None:
    """Print tasks as a table (from their rows alone), or as a JSON array of whole tasks."""
    total = len(rows)
    if limit is not None:
        rows = rows[:limit]
    if env.as_json:
        emit_json([task_json(state.tasks[r.id], state, now) for r in rows])
    elif rows:
        click.echo(_table(state, rows, now))
    elif not total:
        click.echo("no tasks", err=True)
    if len(rows) < total:
        click.echo(f"({len(rows)} of {total} tasks shown)", err=True)


AT = click.option(
    "--at",
    type=Moment(now_is_current=True),
    metavar="TIME",
    help="The state as of TIME (ISO 8601, or 10m, 2h, 3d ago): time travel.",
)
LIMIT = click.option(
    "--limit", type=click.IntRange(min=0), metavar="N", help="Show at most N tasks."
)


def state_at(env: Env, at: int | None) -> tuple[State, int]:
    """The state now, or as of ``--at``; and the moment it stands for (epoch ms)."""
    now = env.ledger.clock()
    if at is None:
        return env.ledger.state(), now
    return env.ledger.state_at(at), min(at, now)


@click.command("list")
@click.option("--status", "statuses", multiple=True, type=STATUS, help="Only these statuses.")
@click.option("--owner", help="Only tasks owned by NAME.", metavar="NAME")
@click.option("--ready", "only_ready", is_flag=True, help="Only tasks ready to start.")
@click.option("--all", "show_all", is_flag=True, help="Include deleted tasks.")
@LIMIT
@AT
@ledger_command
def list_tasks(
    env: Env,
    statuses: tuple[str, ...],
    owner: str | None,
    only_ready: bool,
    show_all: bool,
    limit: int | None,
    at: int | None,
) -> None:
    """List tasks, oldest first."""
    state, now = state_at(env, at)
    rows = state.select(
        now, statuses=statuses, owner=owner, ready=only_ready, include_deleted=show_all
    )
    print_tasks(env, state, rows, now, limit)


@click.command()
@click.argument("task_id", metavar="ID")
@AT
@ledger_command
def show(env: Env, task_id: str, at: int | None) -> None:
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
        ("subject", clean(task.subject)),
        ("status", task.status.value + ("  [deleted]" if task.deleted else "")),
        ("owner", clean(task.owner) or "-"),
    ]
    if task.active_form:
        lines.append(("active form", clean(task.active_form)))
    blocked = [f"{state.short(b)} ({state.tasks[b].status.value})" for b in task.blocked_by]
    lines.append(("blocked by", ", ".join(blocked) or "-"))
    lines.append(("blocks", short_list(state, task.blocks)))
    for key, value in task.metadata:
        lines.append((f"meta {clean(key)}", value_text(value)))
    if task.lease is not None:
        lines.append(("lease", lease_text(task, now)))
    for label, stamp in (("created", task.created), ("updated", task.updated)):
        if stamp is not None:
            lines.append((label, f"{when(stamp.at)} by {clean(stamp.session)}"))
    width = max(len(k) for k, _ in lines)
    out = [f"{k.ljust(width)}  {v}" for k, v in lines]
    if task.description:
        text = clean(task.description, lines=True)
        out += ["", "description:", *("  " + ln for ln in text.splitlines())]
    if task.notes:
        out += ["", "notes:"]
        for n in task.notes:
            out.append(f"  {when(n.stamp.at)} {clean(n.stamp.session)}:")
            out += ["    " + ln for ln in clean(n.text, lines=True).splitlines()]
    if at is not None:
        out = [f"(as of {when_ms(now)})", *out]
    click.echo("\n".join(out))


def summary(state: State, record: Record) -> str:
    """The changes of an op on one line: ``field: old → new``, long values elided."""
    parts = []
    fields = record.fields
    if "note" in fields:  # what a note says comes first, then what it renewed
        fields = {"note": fields["note"], **fields}
    for name, change in fields.items():
        if name == "note" and isinstance(change, str):
            parts.append(f"note {value_text(change)}")
        elif name in ("metadata", "blockedBy", "blocks") and isinstance(change, dict):
            for key, sub in change.items():
                label = elide(key, 40) if name == "metadata" else state.short(key)
                parts.append(change_text(f"{name}.{label}", sub))
        else:
            parts.append(change_text(elide(name, 40), change, lease=name == "lease"))
    return ", ".join(parts)


def _shown(value: Json, lease: bool) -> str:
    if lease and type(value) is int:
        return "until " + when_ms(value)
    return value_text(value)


def change_text(name: str, change: Json, *, lease: bool = False) -> str:
    """``name: old → new`` (or ``name=new`` without an old value)."""
    if isinstance(change, dict) and "new" in change:
        old = change.get("old")
        if old is None:
            return f"{name}={_shown(change['new'], lease)}"
        return f"{name}: {_shown(old, lease)} → {_shown(change['new'], lease)}"
    return f"{name}={value_text(change)}"


@click.command()
@click.argument("task_id", metavar="[ID]", required=False)
@click.option("--session", "by_session", metavar="S", help="Only ops by session S.")
@click.option(
    "--since", type=Moment(), metavar="TIME", help="Only ops since TIME (ISO 8601, or 10m, 2h, 3d)."
)
@click.option("--until", type=Moment(), metavar="TIME", help="Only ops until TIME (same forms).")
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
    since: int | None,
    until: int | None,
    ops: tuple[str, ...],
    limit: int | None,
) -> None:
    """The audit trail: every op in causal (HLC) order, with what it changed, old → new.

    With ID: the ops on that task, including dependency changes made from the
    other task's side.
    """
    records = env.ledger.history(
        task_id, session=by_session, since_ms=since, until_ms=until, ops=ops, limit=limit
    )
    state = env.ledger.seen()
    if env.as_json:
        emit_json_lines(record_json(r, state) for r in records)
        return
    rows = []
    for r in records:
        task = state.tasks.get(r.task)
        subject = elide(task.subject, 24) if task else ""
        rows.append(
            (when(r.at), elide(r.session, 24), r.kind, state.short(r.task), subject,
             summary(state, r))
        )  # fmt: skip
    if rows:
        click.echo(table(("TIME", "SESSION", "OP", "TASK", "SUBJECT", "CHANGES"), rows,
                         terminal_width()))  # fmt: skip
    else:
        click.echo("no history", err=True)
