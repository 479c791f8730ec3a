"""``taskledger demo``: racing sessions, live."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Race a few sessions on one list and show that nothing is lost."""
    raise click.ClickException("not written yet")
