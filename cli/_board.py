"""``taskledger board``: the list live in a browser (the ``board`` package)."""

from __future__ import annotations

import secrets
import socket
import sys
from pathlib import Path

import click

from ledger import Layout, check_session

from ._options import SessionName, home_option, list_option


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port to listen on (0: any free one).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the board has no login: keep it local).")  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the board in a browser.")
@click.option("--allow-writes", is_flag=True,
              help="Add claim, release, complete, note buttons (they need a token).")  # fmt: skip
@click.option("--session", type=SessionName(), help="Who the board's writes are by [board@<host>].")
@home_option
@list_option
def board(home: Path | None, list_id: str, port: int, host: str, open_browser: bool,
          allow_writes: bool, session: str | None) -> None:  # fmt: skip
    """Serve a live board of the list: columns by status, sessions, the dependency
    graph, each task's audit trail, and the board as of any moment (docs/board.md).

    Read-only unless --allow-writes; then writes need the token printed at start
    (it is in the URL printed, after '#'). Needs the board extra: pip install
    'taskledger[board]'.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            "the board needs starlette and uvicorn: pip install 'taskledger[board]'"
        ) from exc
    from board import serve

    layout = Layout.of(home, list_id)
    name = session or check_session(f"board@{(socket.gethostname() or 'localhost')[:40]}")
    token = secrets.token_urlsafe(24) if allow_writes else None

    def announce(url: str) -> None:
        click.echo(f"board of {list_id}: {url}" + (f"#token={token}" if token else ""))
        if token:
            click.echo(f"write token: {token}")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url + (f"#token={token}" if token else ""))

    try:
        serve(layout, name, host, port, token, announce)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        pass
