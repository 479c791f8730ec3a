"""Commands that append ops: create, update, note, delete."""

from __future__ import annotations

import sys

import click

from ledger import STATUSES, Edits, Status, Task, task_json

from ._options import Env, MetaPair, ledger_command
from ._output import clean, emit_json

STATUS = click.Choice(STATUSES)


def _text(value: str | None) -> str | None:
    """``-`` means: read the text from standard input."""
    if value == "-":
        return sys.stdin.read()
    return value


def _done(env: Env, task: Task, verb: str) -> None:
    state = env.ledger.seen()
    if env.as_json:
        emit_json(task_json(task, state, env.ledger.clock()))
    else:
        if env.ledger.last_op is None:
            verb = "unchanged (nothing to change):"
        click.echo(f"{verb} {state.short(task.id)}  {clean(task.subject)}")


@click.command()
@click.argument("subject")
@click.option("-d", "--description", help="Description text ('-' reads stdin).")
@click.option("--active-form", help="Present-continuous form shown while in progress.")
@click.option("--blocked-by", multiple=True, metavar="ID", help="A task that blocks this one.")
@click.option("--blocks", multiple=True, metavar="ID", help="A task this one blocks.")
@click.option("--meta", multiple=True, type=MetaPair(), help="Metadata KEY=VALUE.")
@ledger_command
def create(
    env: Env,
    subject: str,
    description: str | None,
    active_form: str | None,
    blocked_by: tuple[str, ...],
    blocks: tuple[str, ...],
    meta: tuple[tuple[str, str], ...],
) -> None:
    """Create a pending task and print its id."""
    task = env.ledger.create(
        Edits(
            subject=subject,
            description=_text(description),
            active_form=active_form,
            add_blocked_by=blocked_by,
            add_blocks=blocks,
            set_meta=dict(meta),
        )
    )
    if env.as_json:
        emit_json(task_json(task, env.ledger.seen(), env.ledger.clock()))
    else:
        click.echo(task.id)


@click.command()
@click.argument("task_id", metavar="ID")
@click.option("--subject", help="New subject.")
@click.option("-d", "--description", help="New description ('-' reads stdin).")
@click.option("--active-form", help="New active form ('' clears it).")
@click.option("--status", type=STATUS, help="New status.")
@click.option("--owner", help="New owner ('' clears it).")
@click.option("--add-blocked-by", multiple=True, metavar="ID", help="Add a blocker.")
@click.option("--remove-blocked-by", multiple=True, metavar="ID", help="Remove a blocker.")
@click.option("--add-blocks", multiple=True, metavar="ID", help="Block another task.")
@click.option("--remove-blocks", multiple=True, metavar="ID", help="Stop blocking a task.")
@click.option("--meta", multiple=True, type=MetaPair(), help="Set metadata KEY=VALUE.")
@click.option("--unset-meta", multiple=True, metavar="KEY", help="Remove a metadata key.")
@click.option(
    "--force", is_flag=True, help="Change status or owner of a task another session holds."
)
@ledger_command
def update(
    env: Env,
    task_id: str,
    subject: str | None,
    description: str | None,
    active_form: str | None,
    status: str | None,
    owner: str | None,
    add_blocked_by: tuple[str, ...],
    remove_blocked_by: tuple[str, ...],
    add_blocks: tuple[str, ...],
    remove_blocks: tuple[str, ...],
    meta: tuple[tuple[str, str], ...],
    unset_meta: tuple[str, ...],
    force: bool,
) -> None:
    """Change the named fields of a task; nothing else is written.

    Changing the status or owner of a task that another session holds under
    a live lease needs --force (exit 3 otherwise).
    """
    edits = Edits(
        subject=subject,
        description=_text(description),
        active_form=active_form,
        status=None if status is None else Status(status),
        owner=owner,
        add_blocked_by=add_blocked_by,
        remove_blocked_by=remove_blocked_by,
        add_blocks=add_blocks,
        remove_blocks=remove_blocks,
        set_meta=dict(meta),
        unset_meta=unset_meta,
    )
    if edits.is_empty():
        raise click.UsageError("nothing to update: give at least one option (see --help)")
    _done(env, env.ledger.update(task_id, edits, force=force), "updated")


@click.command()
@click.argument("task_id", metavar="ID")
@click.argument("text")
@ledger_command
def note(env: Env, task_id: str, text: str) -> None:
    """Append a note (handoff text) to a task ('-' reads stdin)."""
    _done(env, env.ledger.note(task_id, _text(text) or ""), "noted")


@click.command()
@click.argument("task_id", metavar="ID")
@click.option("--force", is_flag=True, help="Delete a task another session holds.")
@ledger_command
def delete(env: Env, task_id: str, force: bool) -> None:
    """Delete a task: it leaves `list` and its file is removed; history keeps it."""
    _done(env, env.ledger.delete(task_id, force=force), "deleted")
