"""The ``taskledger`` command group: lazy subcommands and one error mapping.

Subcommands are imported only when invoked, so ``taskledger list`` pays for
click and the list command, not for watchfiles, hypothesis or pycrdt.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from typing import Any

import click

from ledger import Contention, LedgerError

# name -> "module:function", in the order ``--help`` lists them.
COMMANDS = {
    "create": "cli._tasks:create",
    "list": "cli._query:list_tasks",
    "show": "cli._query:show",
    "update": "cli._tasks:update",
    "note": "cli._tasks:note",
    "delete": "cli._tasks:delete",
    "claim": "cli._claims:claim",
    "release": "cli._claims:release",
    "ready": "cli._claims:ready",
    "sessions": "cli._claims:sessions",
    "history": "cli._query:history",
    "conflicts": "cli._audit:conflicts",
    "blame": "cli._audit:blame",
    "export": "cli._audit:export",
    "graph": "cli._graph:graph",
    "watch": "cli._watch:watch",
    "sync": "cli._sync:sync",
    "materialize": "cli._admin:materialize",
    "verify": "cli._admin:verify",
    "simulate": "cli._sim:simulate_command",
    "demo": "cli._demo:demo",
    "mcp": "cli._mcp:mcp_command",
    "board": "cli._board:board",
    "claude-code": "cli._claude:claude_code",
}

#: commands that run until stopped, or build cyclic data (hypothesis): these keep
#: the cyclic garbage collector; every other command is one short call
LONG_RUNNING = frozenset({"watch", "mcp", "board", "simulate", "demo", "sync"})

#: the collector's thresholds for a short call (the default is 700, 10, 10)
SHORT_CALL_GC = (50_000, 20, 100)

EXIT_ERROR = 1
EXIT_CONTENTION = 3


class LedgerClickError(click.ClickException):
    """A library error the user can fix: ``Error: ...``, exit 1."""

    exit_code = EXIT_ERROR


class ContentionClickError(click.ClickException):
    """Another session holds the task, or nothing is claimable: exit 3."""

    exit_code = EXIT_CONTENTION


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Contention as exc:
            raise ContentionClickError(_safe(exc)) from exc
        except LedgerError as exc:
            raise LedgerClickError(_safe(exc)) from exc


def _safe(exc: Exception) -> str:
    """An error's message, which may quote stored text, made safe for a terminal."""
    from ._output import clean

    return clean(str(exc))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskledger", prog_name="taskledger")
def cli() -> None:
    """A shared task list that never loses an update.

    Every session appends to its own log (in a data folder beside <home>,
    see docs/format.md); every reader merges all logs into the same state,
    materialized as Claude Code task files (<home>/<list>/<id>.json). No
    shared lock anywhere.

    Exit codes: 0 done, 1 error you can fix, 2 usage error, 3 held by another
    session (or nothing to claim).
    """


def main() -> None:
    """Console-script entry point.

    Everything a command commits is durable before it returns (appends are
    fsynced, cache files renamed into place), so once its output is flushed
    the process ends with ``os._exit``: tearing down a hundred modules and a
    list's rows would add ~15 ms to every call and does nothing for the user.
    """
    short = not sys.argv[1:2] or sys.argv[1] not in LONG_RUNNING
    if short:
        # A short call builds big acyclic data (rows, tasks, JSON) and ends with
        # os._exit: with the default thresholds the collector walks a list's 10k
        # rows again and again (12-20% of an update at 10k tasks). Collecting
        # young cycles every 50k allocations still frees what holds a file open.
        gc.set_threshold(*SHORT_CALL_GC)
    code: int | str | None
    try:
        code = cli.main(prog_name="taskledger", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        # The reader went away (``taskledger list | head``): quietly 1, as click does.
        code = code or 1
    if isinstance(code, str):  # click never does this; sys.exit("message") would
        print(code, file=sys.stderr)
        code = 1
    if not short:
        # What a long-lived Ledger carries (view/'s stats, see ledger/_carry.py) is
        # written by its finalizer at exit; os._exit alone would skip it.
        atexit._run_exitfuncs()
    os._exit(code or 0)
