"""``taskledger mcp``: serve the list as MCP Task tools over stdio (``mcp_server``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ledger import Ledger, check_session, default_session

from ._options import home_option, list_option, session_option


def random_session() -> str:
    """``<user>@<host>-mcp-<6 hex>``: a name no other server uses."""
    return check_session(f"{default_session()[:50]}-mcp-{os.urandom(3).hex()}")


@click.command("mcp")
@home_option
@list_option
@session_option
@click.option(
    "--sync",
    "sync_remote",
    metavar="REMOTE",
    help="Also sync the list with this git remote every 2 s (taskledger sync).",
)
def mcp_command(
    home: Path | None, list_id: str, session: str | None, sync_remote: str | None
) -> None:
    """Serve the list as MCP Task tools over stdio (one server per agent session).

    Register it with Claude Code: claude mcp add taskledger -- taskledger mcp
    (see docs/mcp.md). The session is --session, else $TASKLEDGER_SESSION, else
    <user>@<host>-mcp-<random>, new for every server. Needs the mcp extra:
    pip install 'taskledger[mcp]'.
    """
    try:
        import mcp.server  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            "the MCP server needs the official MCP SDK: pip install 'taskledger[mcp]'"
        ) from exc
    from mcp_server import serve

    ledger = Ledger.open(home, list_id, session or random_session())
    if sync_remote is not None:
        from ._sync import background_sync

        background_sync(ledger, sync_remote, 2.0)
    serve(ledger)
