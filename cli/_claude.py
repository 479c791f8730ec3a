"""``taskledger claude-code``: hooks that make Claude Code's own task tools ledger citizens."""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from ledger import (
    LedgerError,
    handle_hook,
    install_hooks,
    register_mcp,
    settings_file,
    uninstall_hooks,
)

from ._output import clean

#: a hook never keeps Claude Code waiting longer than this (its own limit is 10 minutes)
HOOK_DEADLINE_S = 20


def _executable() -> str:
    """This taskledger, by absolute path (a hook does not run in this shell's PATH)."""
    found = shutil.which("taskledger")
    if found:
        return str(Path(found).resolve())
    script = Path(sys.executable).with_name("taskledger")
    return str(script) if script.exists() else f"{sys.executable} -m cli"


def _scope(project: bool, user: bool) -> str:
    if project and user:
        raise click.UsageError("--project and --user are exclusive")
    return "user" if user else "project"


@click.group("claude-code")
def claude_code() -> None:
    """Claude Code's task tools and the ledger: hooks, installed into its settings.

    With the hooks installed, every TaskCreate and TaskUpdate a Claude Code
    session makes is recorded under that session's id as it happens, and a
    TaskUpdate that takes a task another live session holds is blocked,
    naming the holder (docs/claude-code.md).
    """


SCOPES = [
    click.option(
        "--project", is_flag=True, help="This project's .claude/settings.json (the default)."
    ),
    click.option(
        "--user", is_flag=True, help="Your user settings ($CLAUDE_CONFIG_DIR or ~/.claude)."
    ),
    click.option(
        "--settings",
        "path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="This settings file instead.",
    ),
]


F = TypeVar("F", bound=Callable[..., Any])


def scoped(func: F) -> F:
    """Add --project, --user and --settings."""
    for option in reversed(SCOPES):
        func = option(func)
    return func


def _target(project: bool, user: bool, path: Path | None) -> tuple[str, Path]:
    scope = _scope(project, user)
    return scope, path if path is not None else settings_file(scope, Path.cwd())


@claude_code.command()
@scoped
@click.option("--mcp", is_flag=True, help="Also register the MCP server (a project's .mcp.json).")
def install(project: bool, user: bool, path: Path | None, mcp: bool) -> None:
    """Merge taskledger's hooks into Claude Code's settings (other entries are kept)."""
    scope, target = _target(project, user, path)
    command = f"{_executable()} claude-code hook"
    try:
        changed = install_hooks(target, command)
    except LedgerError as exc:
        raise click.ClickException(clean(str(exc))) from exc
    click.echo(f"{'installed' if changed else 'already installed'}: hooks in {target}")
    server = f"claude mcp add taskledger -- {_executable()} mcp"
    if mcp and scope == "project":
        where = target.parent.parent / ".mcp.json"
        try:
            added = register_mcp(where, _executable())
        except LedgerError as exc:
            raise click.ClickException(clean(str(exc))) from exc
        click.echo(f"{'registered' if added else 'already registered'}: MCP server in {where}")
    elif mcp:
        click.echo(f"to register the MCP server for your user: {server} --scope user")
    else:
        click.echo(f"agents can also use the list as MCP tools: {server} (or --mcp)")


@claude_code.command()
@scoped
def uninstall(project: bool, user: bool, path: Path | None) -> None:
    """Take taskledger's hooks out of Claude Code's settings (nothing else changes)."""
    _, target = _target(project, user, path)
    try:
        changed = uninstall_hooks(target)
    except LedgerError as exc:
        raise click.ClickException(clean(str(exc))) from exc
    click.echo(f"{'removed' if changed else 'not installed'}: hooks in {target}")


def _deadline(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the hook ran out of time")


@claude_code.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TASKLEDGER_HOME",
    help="Folder of all lists' views [env TASKLEDGER_HOME; default Claude Code's tasks folder].",
)
def hook(home: Path | None) -> None:
    """Run by Claude Code around its Task tools, with the call as JSON on stdin.

    Exit 2 blocks the call (the reason goes to the model); any other failure
    is reported and lets the call through.
    """
    import json

    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(HOOK_DEADLINE_S)
    try:
        payload = json.loads(sys.stdin.read() or "{}")
        if not isinstance(payload, dict):
            raise LedgerError("the hook input is not a JSON object")
        answer = handle_hook(payload, home)
    except (LedgerError, ValueError, OSError, TimeoutError) as exc:
        click.echo(f"taskledger hook: {clean(str(exc))}", err=True)
        sys.exit(1)  # a failed hook must not block the call; the file ingest still records it
    finally:
        signal.alarm(0)
    if answer.message:
        click.echo(clean(answer.message), err=True)
    sys.exit(answer.code)
