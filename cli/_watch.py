"""``taskledger watch``: every change as it lands, while the task files stay current."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Mapping
from types import FrameType

import click

from ledger import Json, Ledger, NotFound
from ledger._paths import default_session
from ledger._watch import Follower, LiveEvent

from ._options import Env, SessionName, reader_command
from ._output import elide, record_json
from ._query import summary


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _line(ledger: Ledger, event: LiveEvent) -> str:
    record = event.record
    state = ledger.state()
    subject = elide(event.task.subject, 24) if event.task else ""
    return (
        f"{record.at[11:23]}  {record.session[:16]:<16}  {record.kind:<7}  "
        f"{state.short(record.task):<6}  {subject:<24}  {summary(state, record)}"
    )


@click.command()
@click.option("--task", "task_ref", metavar="ID", help="Only changes of this task.")
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
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.001, max=3600),
    default=0.1,
    show_default=True,
    metavar="SECONDS",
    help="How often --poll looks.",
)
@reader_command
def watch(
    env: Env,
    task_ref: str | None,
    by_session: str | None,
    as_session: str | None,
    poll: bool,
    poll_interval: float,
) -> None:
    """Print every change to the list as it lands, and keep its task files current.

    One line per op (--json: one object per line, the keys of history --json).
    Ctrl-C stops it. While it runs, its session shows as live in `sessions`.
    """
    ledger = Ledger(env.ledger.layout, as_session or default_session())
    task_id = None
    if task_ref is not None:
        try:
            task_id = ledger.state().find(task_ref).id
        except NotFound:
            task_id = task_ref.strip().lower()  # a task yet to come
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with Follower(ledger, poll_s=poll_interval if poll else None) as follower:
            _flush_warnings(ledger)
            for batch in follower:
                for event in batch:
                    record = event.record
                    if by_session is not None and record.session != by_session:
                        continue
                    if task_id is not None and not _touches(record.task, record.fields, task_id):
                        continue
                    if env.as_json:
                        data = record_json(record, ledger.state())
                        click.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
                    else:
                        click.echo(_line(ledger, event))
                sys.stdout.flush()
                _flush_warnings(ledger)
    except KeyboardInterrupt:
        pass


def _touches(task: str, fields: Mapping[str, Json], wanted: str) -> bool:
    if task.startswith(wanted):
        return True
    blocks = fields.get("blocks")
    return isinstance(blocks, dict) and any(str(k).startswith(wanted) for k in blocks)


def _flush_warnings(ledger: Ledger) -> None:
    for warning in ledger.warnings:
        click.echo(f"warning: {warning}", err=True)
    ledger.warnings.clear()
