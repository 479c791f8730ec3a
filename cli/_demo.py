"""``taskledger demo``: racing sessions on one list, and proof that nothing was lost."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import click

from ledger import Edits, Ledger
from ledger._race import race

from ._output import table


@click.command()
@click.option(
    "--sessions",
    default=6,
    show_default=True,
    type=click.IntRange(2, 32),
    help="How many sessions race.",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo list here (default: a temporary folder, removed after).",
)
def demo(sessions: int, home: Path | None) -> None:
    """Race several real sessions on one task list and show that nothing is lost.

    Every session is a separate taskledger process; all of them edit the same
    task at the same time: each sets its own metadata key, appends a note and
    renames the task. Claude Code's shared JSON files would keep only the last
    writer's version; the ledger keeps every change.
    """
    keep = home is not None
    root = home if home is not None else Path(tempfile.mkdtemp(prefix="taskledger-demo-"))
    try:
        _run(root, sessions)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _run(home: Path, sessions: int) -> None:
    planner = Ledger.open(home, "demo", "planner")
    design = planner.create(Edits(subject="Design the API", description="Endpoints:\n"))
    tests = planner.create(Edits(subject="Write the tests", add_blocked_by=[design.id]))
    planner.create(Edits(subject="Ship it", add_blocked_by=[tests.id]))
    names = [f"agent-{n + 1}" for n in range(sessions)]
    click.echo(f"{sessions} sessions race on task {design.id[:4]} ({design.subject!r}) ...")
    scripts = [
        (
            name,
            [
                ["update", design.id, "--meta", f"{name}=reviewed"],
                ["note", design.id, f"{name} was here"],
                ["update", design.id, "--subject", f"Design the API ({name}'s wording)"],
            ],
        )
        for name in names
    ]
    result = race(home, "demo", scripts)
    for failed in (r for r in result.runs if r.returncode != 0):
        click.echo(f"  {failed.session}: exit {failed.returncode}: {failed.stderr.strip()}")
    reader = Ledger.open(home, "demo", "reader")
    state = reader.state()
    task = state.tasks[design.id]
    click.echo(f"done in {result.seconds:.1f}s: {len(result.committed)} commands committed\n")
    rows = [(state.short(t.id), t.status.value, t.owner or "-", t.subject) for t in state.live()]
    click.echo(table(("ID", "STATUS", "OWNER", "SUBJECT"), rows))
    click.echo(f"\naudit trail of {state.short(design.id)}:")
    history = [
        (r.at[11:23], r.session, r.kind, ", ".join(_names(r.fields)))
        for r in reader.history(design.id)
    ]
    click.echo(table(("TIME", "SESSION", "OP", "CHANGED"), history))
    keys = sum(1 for n in names if task.meta().get(n) == "reviewed")
    notes = sum(1 for n in names if any(x.text == f"{n} was here" for x in task.notes))
    renames = sum(1 for r in reader.history(design.id) if "subject" in r.fields)
    lost = (sessions - keys) + (sessions - notes) + (sessions + 1 - renames)
    click.echo(
        f"\nmetadata keys kept: {keys}/{sessions}   notes kept: {notes}/{sessions}   "
        f"renames in the audit trail: {renames - 1}/{sessions} (the latest one wins)"
    )
    report = reader.verify()
    click.echo(f"lost updates: {lost}   verify: {'OK' if report.ok else 'FAILED'}")


def _names(fields: Mapping[str, object]) -> list[str]:
    out = []
    for name, value in fields.items():
        if name == "metadata" and isinstance(value, dict):
            out += [f"metadata.{k}" for k in value]
        else:
            out.append(name)
    return out
