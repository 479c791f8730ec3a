"""``taskledger simulate``: racing sessions against Claude Code's files and the ledger."""

from __future__ import annotations

import click

from sim import Simulation, simulate

from ._output import emit_json, table


def _rows(result: Simulation) -> str:
    naive, ledger = result.naive, result.ledger
    rows = [
        ("ops attempted", str(naive.attempted), str(ledger.attempted)),
        ("ops committed", str(naive.committed), str(ledger.committed)),
        ("updates lost", str(naive.lost), str(ledger.lost)),
        ("double claims", str(naive.double_claims), str(ledger.double_claims)),
        ("states that disagree", str(naive.disagreements), str(ledger.disagreements)),
        ("wall time", f"{naive.seconds:.1f} s", f"{ledger.seconds:.1f} s"),
    ]
    return table(("", "NAIVE JSON FILES", "TASKLEDGER"), rows)


@click.command()
@click.option("--sessions", default=8, show_default=True, type=click.IntRange(2, 64),
              help="Racing sessions (one process each).")  # fmt: skip
@click.option("--ops", default=200, show_default=True, type=click.IntRange(1, 100_000),
              help="Operations per session.")  # fmt: skip
@click.option("--seed", default=1, show_default=True, type=int, help="Fixes the operation script.")
@click.option("--tasks", default=10, show_default=True, type=click.IntRange(2, 10_000),
              help="Tasks in the list.")  # fmt: skip
@click.option(
    "--shrink",
    is_flag=True,
    help="Search the interleavings of a few sessions for the smallest race that loses an "
    "update in the naive files, print it, and replay it against the ledger "
    "(needs hypothesis: pip install 'taskledger[sim]').",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (docs/cli.md).")
def simulate_command(
    sessions: int, ops: int, seed: int, tasks: int, shrink: bool, as_json: bool
) -> None:
    """Race real sessions against the naive files and the ledger, with one script.

    Every session is a separate process running the same seeded operations
    against both stores. Counts what each store lost: committed changes
    missing at the end, claims two sessions held at once, and final states
    that contradict themselves.
    """
    if shrink:
        from ._shrink import shrink_command

        shrink_command(as_json)
        return
    if not as_json:
        click.echo(
            f"{sessions} sessions x {ops} ops, seed {seed}, {tasks} tasks: "
            "racing the naive files, then the ledger ...",
            err=True,
        )
    result = simulate(sessions, ops, seed, tasks)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(_rows(result))
    for example in result.naive.lost_examples:
        click.echo(f"  lost in the naive files: {example}")
    extra = result.ledger.extra
    click.echo(
        f"ledger: replicas identical: {'yes' if extra.get('replicas_identical') else 'NO'}; "
        f"verify: {'OK' if extra.get('verify_ok') else 'FAILED'}; "
        f"same-field races kept and listed by `conflicts`: {extra.get('conflicts_listed', 0)}"
    )
