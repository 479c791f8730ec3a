"""Options every command shares, and the types that validate them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from ledger import InvalidValue, Ledger, check_list_id, check_session

F = TypeVar("F", bound=Callable[..., Any])


class ListId(click.ParamType):  # type: ignore[type-arg]
    """A list id: 1-64 characters of [A-Za-z0-9._-], not starting with '.'."""

    name = "LIST"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return check_list_id(str(value))
        except InvalidValue as exc:
            self.fail(str(exc), param, ctx)


class SessionName(click.ParamType):  # type: ignore[type-arg]
    """A session name: 1-64 characters of [A-Za-z0-9._@-], not starting with '.'."""

    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return check_session(str(value))
        except InvalidValue as exc:
            self.fail(str(exc), param, ctx)


class MetaPair(click.ParamType):  # type: ignore[type-arg]
    """``KEY=VALUE``: a metadata key and its (string) value."""

    name = "K=V"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, eq, val = str(value).partition("=")
        if not eq or not key:
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return key, val


@dataclass(frozen=True, slots=True)
class Env:
    """What a command receives: the opened ledger and the output mode."""

    ledger: Ledger
    as_json: bool


def list_option(func: F) -> F:
    """``--list`` (env ``TASKLEDGER_LIST``, ``CLAUDE_CODE_TASK_LIST_ID``), passed as ``list_id``."""
    return click.option(
        "--list",
        "list_id",
        type=ListId(),
        envvar=["TASKLEDGER_LIST", "CLAUDE_CODE_TASK_LIST_ID"],
        default="default",
        show_default=True,
        help="Task list id [env TASKLEDGER_LIST, CLAUDE_CODE_TASK_LIST_ID].",
    )(func)


def home_option(func: F) -> F:
    """``--home`` (env ``TASKLEDGER_HOME``), passed as ``home``."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="TASKLEDGER_HOME",
        help="Folder of all lists [env TASKLEDGER_HOME; default $CLAUDE_CONFIG_DIR/tasks "
        "or ~/.claude/tasks].",
    )(func)


def _shared(func: Callable[..., Any], acting_session: bool) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        home: Path | None,
        list_id: str,
        as_json: bool,
        **kwargs: Any,
    ) -> Any:
        # A read-only command records nothing, so it needs no acting session.
        session = kwargs.pop("session") if acting_session else "reader"
        env = Env(Ledger.open(home, list_id, session), as_json)
        try:
            return func(env, *args, **kwargs)
        finally:
            for warning in env.ledger.warnings:
                click.echo(f"warning: {warning}", err=True)

    wrapper = click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Machine-readable output on stdout (see docs/cli.md).",
    )(wrapper)
    if acting_session:
        wrapper = click.option(
            "--session",
            type=SessionName(),
            envvar="TASKLEDGER_SESSION",
            help="Who is acting [env TASKLEDGER_SESSION; default <user>@<host>].",
        )(wrapper)
    return home_option(list_option(wrapper))


def ledger_command(func: F) -> F:
    """Add ``--home/--list/--session/--json`` and pass an opened ``Env`` first."""
    return _shared(func, acting_session=True)  # type: ignore[return-value]


def reader_command(func: F) -> F:
    """Like ``ledger_command`` for a command whose own ``--session`` is a filter.

    The acting session then comes from ``$TASKLEDGER_SESSION`` or the default;
    a read-only command never records it.
    """
    return _shared(func, acting_session=False)  # type: ignore[return-value]
