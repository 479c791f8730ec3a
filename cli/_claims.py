"""Claims: claim, release, ready (and ready --claim), sessions."""

from __future__ import annotations

import click

from ledger import DEFAULT_LEASE_S
from ledger._timeparse import iso_ms

from ._options import Env, ledger_command
from ._output import ago, emit_json, lease_text, record_json, table, task_json
from ._query import print_tasks

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
    state = env.ledger.state()
    task = state.tasks[task_id]
    now = env.ledger.clock()
    if env.as_json:
        emit_json(task_json(task, state, now))
    else:
        click.echo(f"claimed {state.short(task.id)}  {task.subject}  ({lease_text(task, now)})")


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
    state = env.ledger.state()
    if env.as_json:
        emit_json(task_json(state.tasks[task.id], state, env.ledger.clock()))
    else:
        click.echo(f"released {state.short(task.id)}  {task.subject}")


@click.command()
@click.option(
    "--claim", "and_claim", is_flag=True, help="Claim the oldest ready task and print it."
)
@LEASE
@ledger_command
def ready(env: Env, and_claim: bool, lease_seconds: float) -> None:
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
    print_tasks(env, state, [r for r in state.live_rows() if state.is_ready(r, now)], now)


@click.command()
@ledger_command
def sessions(env: Env) -> None:
    """Every session seen: live or idle, its last op, and what it holds until when.

    A session is live while one of its processes (a `watch`, an MCP server)
    keeps its presence file beating.
    """
    infos = env.ledger.sessions()
    state = env.ledger.state()
    now = env.ledger.clock()
    if env.as_json:
        emit_json(
            [
                {
                    "session": info.session,
                    "live": info.live,
                    "running": [
                        {
                            "kind": p.kind,
                            "pid": p.pid,
                            "host": p.host,
                            "since": iso_ms(p.started_ms),
                            "heartbeat": iso_ms(p.heartbeat_ms),
                        }
                        for p in info.running
                    ],
                    "ops": info.ops,
                    "lastActivity": info.last.at if info.last else None,
                    "lastOp": record_json(info.last, state) if info.last else None,
                    "holds": [
                        {
                            "task": t.id,
                            "subject": t.subject,
                            "until": iso_ms(t.lease_until) if t.lease_until else None,
                        }
                        for t in info.holds
                    ],
                }
                for info in infos
            ]
        )
        return
    if not infos:
        click.echo("no sessions", err=True)
        return
    rows = []
    for info in infos:
        last = "-"
        if info.last is not None:
            when = info.last.at[:19].replace("T", " ")
            last = f"{when} ({info.last.kind} {state.short(info.last.task)})"
        held = ", ".join(
            f"{t.short} ({ago(t.lease_until - now)} left)" for t in info.holds if t.lease_until
        )
        state_text = "idle"
        if info.live:
            state_text = "live: " + ", ".join(f"{p.kind} pid {p.pid}" for p in info.running)
        rows.append((info.session, state_text, str(info.ops), last, held or "-"))
    click.echo(table(("SESSION", "STATE", "OPS", "LAST ACTIVITY", "HOLDS"), rows))
