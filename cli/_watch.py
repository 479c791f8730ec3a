"""``taskledger watch``: every change as it lands, while the task files stay current."""

from __future__ import annotations

import sys

import click

from ledger import Filter, Follower, Ledger, LiveEvent, NotFound, default_session, record_json

from ._options import (
    Env,
    SessionName,
    TaskRef,
    flush_warnings,
    reader_command,
    seconds_option,
    stop_on_sigterm,
)
from ._output import elide, json_text, when
from ._query import summary


def _line(ledger: Ledger, event: LiveEvent) -> str:
    record = event.record
    state = ledger.seen()
    subject = elide(event.task.subject, 24) if event.task else ""
    return (
        f"{when(record.at)[11:]}  {elide(record.session, 16):<16}  {record.kind:<7}  "
        f"{state.short(record.task):<6}  {subject:<24}  {summary(state, record)}"
    )


@click.command()
@click.option(
    "--task",
    "task_ref",
    type=TaskRef(),
    help="Only changes of this task (or of one yet to come with this prefix).",
)
@click.option("--session", "by_session", metavar="S", help="Only changes made by session S.")
@click.option(
    "--as",
    "as_session",
    type=SessionName(),
    envvar="TASKLEDGER_SESSION",
    help="The session this watcher announces as live [env TASKLEDGER_SESSION].",
)
@click.option(
    "--poll",
    is_flag=True,
    help="Check the logs' sizes on a timer instead of waiting for change notifications "
    "(network file systems).",
)
@seconds_option("--poll-interval", 0.001, 0.1, "How often --poll looks.")
@click.option(
    "--sync",
    "sync_remote",
    metavar="REMOTE",
    help="Also sync the list with this git remote every 2 s (taskledger sync).",
)
@reader_command
def watch(
    env: Env,
    task_ref: str | None,
    by_session: str | None,
    as_session: str | None,
    poll: bool,
    poll_interval: float,
    sync_remote: str | None,
) -> None:
    """Print every change to the list as it lands, and keep its task files current.

    One line per op (--json: one object per line, the keys of history --json).
    Changes Claude Code makes to the task files are recorded and printed too.
    Ctrl-C stops it. While it runs, its session shows as live in `sessions`.
    """
    ledger = Ledger(env.ledger.layout, as_session or default_session())
    task_id = task_ref
    if task_ref is not None:
        try:
            task_id = ledger.seen().resolve(task_ref)
        except NotFound:
            task_id = task_ref  # a task yet to come
    stop = stop_on_sigterm()
    if sync_remote is not None:
        from ._sync import background_sync

        background_sync(ledger, sync_remote, 2.0)
    only = Filter(task=task_id, session=by_session)
    try:
        with Follower(ledger, poll_s=poll_interval if poll else None, only=only) as follower:
            follower.stop_event = stop
            flush_warnings(ledger)
            for batch in follower:
                for event in batch:
                    if env.as_json:
                        data = record_json(event.record, ledger.seen())
                        click.echo(json_text(data))
                    else:
                        click.echo(_line(ledger, event))
                sys.stdout.flush()
                flush_warnings(ledger)
    except KeyboardInterrupt:
        pass
