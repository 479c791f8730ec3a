"""``taskledger graph``: the dependency graph as text, for docs and PRs."""

from __future__ import annotations

import click

from ledger import dependency_graph, to_dot, to_mermaid

from ._options import Env, format_option, reader_command


@click.command()
@format_option(["mermaid", "dot"], "mermaid: a flowchart GitHub renders; dot: Graphviz.")
@click.option("--open-only", is_flag=True, help="Leave out completed tasks.")
@reader_command
def graph(env: Env, fmt: str, open_only: bool) -> None:
    """The dependency graph of the list: an edge from each blocker to what it blocks.

    Ready tasks are marked (bold in dot, the class "ready" in mermaid).
    """
    found = dependency_graph(env.ledger.state(), env.ledger.clock(), open_only=open_only)
    click.echo(to_dot(found) if fmt == "dot" else to_mermaid(found), nl=False)
