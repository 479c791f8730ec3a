"""Claims: claim, release, ready (and ready --claim), sessions."""

from __future__ import annotations

import click

from ledger import DEFAULT_LEASE_S, session_json, task_json

from ._options import Env, json_or_nothing, ledger_command
from ._output import ago, clean, elide, emit_json, lease_text, table, terminal_width, when
from ._query import LIMIT, print_tasks

LEASE = click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(min=0.001, max=10 * 365 * 86400.0),
    default=DEFAULT_LEASE_S,
    show_default=True,
    metavar="SECONDS",
    help="How long the claim lasts unless renewed (any op by the holder renews it).",
)


def _claimed(env: Env, task_id: str) -> None:
    state = env.ledger.seen()
    task = state.tasks[task_id]
    now = env.ledger.clock()
    if env.as_json:
        emit_json(task_json(task, state, now))
    else:
        click.echo(
            f"claimed {state.short(task.id)}  {clean(task.subject)}  ({lease_text(task, now)})"
        )


@click.command()
@click.argument("task_id", metavar="ID")
@LEASE
@click.option(
    "--force", is_flag=True, help="Take it from another session's live claim, or while blocked."
)
@ledger_command
def claim(env: Env, task_id: str, lease_seconds: float, force: bool) -> None:
    """Claim a task exclusively: owner := you, status := in_progress.

    Of several sessions racing for one task exactly one wins; the others exit
    3 at once, naming the winner. Claiming a task you hold renews the lease.
    """
    task = env.ledger.claim(task_id, lease_seconds=lease_seconds, force=force)
    _claimed(env, task.id)


@click.command()
@click.argument("task_id", metavar="ID")
@click.option("--force", is_flag=True, help="Release another session's claim.")
@ledger_command
def release(env: Env, task_id: str, force: bool) -> None:
    """End your claim: owner cleared, status back to pending unless completed."""
    task = env.ledger.release(task_id, force=force)
    state = env.ledger.seen()
    if env.as_json:
        emit_json(task_json(state.tasks[task.id], state, env.ledger.clock()))
    else:
        click.echo(f"released {state.short(task.id)}  {clean(task.subject)}")


@click.command()
@click.option(
    "--claim", "and_claim", is_flag=True, help="Claim the oldest ready task and print it."
)
@LEASE
@LIMIT
@ledger_command
def ready(env: Env, and_claim: bool, lease_seconds: float, limit: int | None) -> None:
    """Tasks ready to start: every blocker completed, and unowned or their lease ran out.

    With --claim, claims the oldest one atomically (moving on if another
    session wins it) and prints it; exit 3 if there is nothing to claim.
    """
    if and_claim:
        task = env.ledger.claim_ready(lease_seconds=lease_seconds)
        _claimed(env, task.id)
        return
    state = env.ledger.state()
    now = env.ledger.clock()
    print_tasks(env, state, state.select(now, ready=True), now, limit)


@click.command()
@ledger_command
def sessions(env: Env) -> None:
    """Every session seen: live or idle, its last op, and what it holds until when.

    A session is live while one of its processes (a `watch`, an MCP server)
    keeps its presence file beating.
    """
    infos = env.ledger.sessions()
    state = env.ledger.seen()
    now = env.ledger.clock()
    if json_or_nothing(env, infos, lambda info: session_json(info, state), "no sessions"):
        return
    rows = []
    for info in infos:
        last = "-"
        if info.last is not None:
            last = f"{when(info.last.at)} ({info.last.kind} {state.short(info.last.task)})"
        held = ", ".join(
            f"{t.short} ({ago(t.lease_until - now)} left)" for t in info.holds if t.lease_until
        )
        state_text = "idle"
        if info.live:
            state_text = "live: " + ", ".join(
                f"{elide(p.kind, 12)} pid {p.pid}" for p in info.running
            )
        machines = ", ".join(
            elide(m, 12) + ("" if at is None else f" (synced {ago(now - at)} ago)")
            for m, at in info.machines
        )
        rows.append((elide(info.session, 32), state_text, machines or "-", str(info.ops), last,
                     held or "-"))  # fmt: skip
    header = ("SESSION", "STATE", "MACHINE", "OPS", "LAST ACTIVITY", "HOLDS")
    click.echo(table(header, rows, terminal_width()))
