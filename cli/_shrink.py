"""``taskledger simulate --shrink``: the smallest losing race, naive files vs ledger."""

from __future__ import annotations

import click

from ._output import emit_json


def shrink_command(as_json: bool) -> None:
    """Find, shrink and print the smallest race that loses an update in the naive files."""
    try:
        import hypothesis  # noqa: F401

        from sim.shrink import describe, find_smallest_losing_race, run_ledger, run_naive
    except ImportError:
        raise click.ClickException(
            "simulate --shrink needs hypothesis: pip install 'taskledger[sim]'"
        ) from None
    if not as_json:
        click.echo("searching interleavings for a race the naive files lose ...", err=True)
    try:
        race = find_smallest_losing_race()
    except LookupError:
        raise click.ClickException("no losing race found (try again)") from None
    naive, ledger = run_naive(race), run_ledger(race)
    if as_json:
        emit_json(
            {
                "sessions": {s: [[o.kind, o.task] for o in ops] for s, ops in race.ops.items()},
                "schedule": list(race.schedule),
                "naive": {
                    "timeline": naive.timeline,
                    "lost": naive.lost,
                    "doubleClaims": naive.double_claims,
                },
                "ledger": {
                    "timeline": ledger.timeline,
                    "lost": ledger.lost,
                    "doubleClaims": ledger.double_claims,
                },
            }
        )
        return
    click.echo("smallest losing race:")
    for line in describe(race):
        click.echo(f"  {line}")
    click.echo("\nnaive JSON files (read the file, change it, write it back):")
    for line in naive.timeline:
        click.echo(f"  {line}")
    for lost in naive.lost:
        click.echo(f"  => vanished: {lost}")
    for double in naive.double_claims:
        click.echo(f"  => double claim: {double}")
    click.echo("\ntaskledger, the same interleaving:")
    for line in ledger.timeline:
        click.echo(f"  {line}")
    if ledger.bad:
        for problem in [*ledger.lost, *ledger.double_claims]:
            click.echo(f"  => {problem}")
    else:
        click.echo("  => nothing lost, no task claimed twice")
