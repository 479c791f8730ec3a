"""``taskledger demo``: racing sessions on one task, with the naive files and with the ledger."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import click

from ledger import Edits, Ledger
from sim import SimOp, run_ledger, run_naive

from ._output import clock_time, table


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
    help="Keep the demo's folders here (default: a temporary folder, removed after).",
)
def demo(sessions: int, home: Path | None) -> None:
    """Race several real sessions on one task, first on Claude Code's files, then here.

    Every session is a separate process. All of them work on the same task at
    the same time: each records its own metadata key, appends a note, tries
    to claim the task and renames it. On the shared JSON files (read, change,
    write back) the later writer erases the earlier; on the ledger nothing
    is lost and exactly one claim wins.
    """
    keep = home is not None
    root = home if home is not None else Path(tempfile.mkdtemp(prefix="taskledger-demo-"))
    try:
        _run(root, sessions)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _script(sessions: int) -> dict[str, list[SimOp]]:
    script = {}
    for n in range(sessions):
        name = f"agent-{n + 1}"
        script[name] = [
            SimOp("meta", 0, [f"{name}", "reviewed"], 3.0),
            SimOp("note", 0, f"{name}: my part is done", 3.0),
            SimOp("claim", 0, None, 3.0),
            SimOp("subject", 0, f"Design the API ({name}'s wording)", 3.0),
        ]
    return script


def _run(root: Path, sessions: int) -> None:
    planner = Ledger.open(root / "ledger", "main", "planner")
    design = planner.create(Edits(subject="Design the API", description="Endpoints:\n"))
    tests = planner.create(Edits(subject="Write the tests", add_blocked_by=[design.id]))
    ship = planner.create(Edits(subject="Ship it", add_blocked_by=[tests.id]))
    ids = [design.id, tests.id, ship.id]
    script = _script(sessions)
    click.echo(
        f"{sessions} sessions, each a separate process, race on one task: each sets its own\n"
        "metadata key, adds a note, claims the task and renames it - all at the same time.\n"
    )
    naive = run_naive(root / "naive", ids, script)
    ledger = run_ledger(root / "ledger", ids, script)
    reader = Ledger.open(root / "ledger", "main", "reader")
    state = reader.state()
    now = reader.clock()
    rows = [(state.short(t.id), t.status.value, t.owner or "-", t.subject) for t in state.live()]
    click.echo("the board (taskledger):")
    click.echo(_indent(table(("ID", "STATUS", "OWNER", "SUBJECT"), rows)))
    click.echo(f"\naudit trail of {state.short(design.id)}, the contested task:")
    trail = [
        (clock_time(r.at), r.session, r.kind, ", ".join(_names(r.fields)))
        for r in reader.history(design.id)
    ]
    click.echo(_indent(table(("TIME", "SESSION", "OP", "CHANGED"), trail)))
    task = state.tasks[design.id]
    click.echo(
        f"\non the ledger: {len(task.meta())}/{sessions} metadata keys, "
        f"{len(task.notes)}/{sessions} notes, one holder ({task.holder(now) or 'none'}), "
        f"{len(reader.conflicts(design.id))} renames kept as conflicts"
    )
    click.echo("\nwhat each model kept:")
    results = [
        ("updates lost", str(naive.lost), str(ledger.lost)),
        ("double claims", str(naive.double_claims), str(ledger.double_claims)),
    ]
    click.echo(_indent(table(("", "SHARED JSON FILES", "TASKLEDGER"), results)))
    for example in naive.lost_examples[:3]:
        click.echo(f"  lost in the shared files: {example}")
    verdict = "OK" if ledger.extra.get("verify_ok") else "FAILED"
    click.echo(f"\ntaskledger verify: {verdict}.  Try: taskledger simulate --sessions 8 --ops 200")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _names(fields: Mapping[str, object]) -> list[str]:
    out = []
    for name, value in fields.items():
        if name == "metadata" and isinstance(value, dict):
            out += [f"metadata.{k}" for k in value]
        else:
            out.append(name)
    return out
