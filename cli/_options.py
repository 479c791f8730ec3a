"""Options every command shares, and the types that validate them (exit 2 when bad)."""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple, TypeVar

import click

from ledger import InvalidValue, Ledger, check_list_id, check_session, parse_time

F = TypeVar("F", bound=Callable[..., Any])


def open_short(home: Path | None, list_id: str, session: str | None) -> Ledger:
    """A command's ledger: opened for one call (read once, nothing kept)."""
    return Ledger.open(home, list_id, session, long_lived=False)


#: how a command opens its ledger (``cli._server`` keeps long-lived ones instead)
OPEN: Callable[[Path | None, str, str | None], Ledger] = open_short


class _Name(click.ParamType):  # type: ignore[type-arg]
    """A name the library checks (usage error, exit 2, when it refuses it)."""

    check: Callable[[str], str]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return type(self).check(str(value))
        except InvalidValue as exc:
            self.fail(str(exc), param, ctx)


class ListId(_Name):
    """A list id: 1-64 characters of [A-Za-z0-9._-], not starting with '.'."""

    name = "LIST"
    check = staticmethod(check_list_id)


class SessionName(_Name):
    """A session name: 1-64 characters of [A-Za-z0-9._@-], not starting with '.'."""

    name = "NAME"
    check = staticmethod(check_session)


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


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A time: ISO 8601 (no zone means UTC), or a relative one in the past (``10m``, ``2h``)."""

    name = "TIME"

    def __init__(self, *, now_is_current: bool = False) -> None:
        self.now_is_current = now_is_current

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        if isinstance(value, int):
            return value
        if self.now_is_current and str(value).strip().lower() == "now":
            return None  # the current state, whatever clocks say (docs/semantics.md)
        try:
            return parse_time(str(value), time.time_ns() // 1_000_000)
        except InvalidValue as exc:
            self.fail(str(exc), param, ctx)


class TaskRef(click.ParamType):  # type: ignore[type-arg]
    """A task id, a prefix of one, or a number Claude Code gave a task."""

    name = "ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if not text or not all(c in "0123456789abcdef" for c in text) or len(text) > 16:
            self.fail(f"{value!r} is not a task id or a prefix of one", param, ctx)
        return text


class Env(NamedTuple):
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
        help="Folder of all lists' Claude Code views [env TASKLEDGER_HOME; default "
        "$CLAUDE_CONFIG_DIR/tasks or ~/.claude/tasks]. The ledger itself lives beside it "
        "(docs/format.md).",
    )(func)


def session_option(func: F) -> F:
    """``--session`` (env ``TASKLEDGER_SESSION``), passed as ``session``."""
    return click.option(
        "--session",
        type=SessionName(),
        envvar="TASKLEDGER_SESSION",
        help="Who is acting [env TASKLEDGER_SESSION; default <user>@<host>].",
    )(func)


def json_option(func: F) -> F:
    """``--json``, passed as ``as_json``."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Machine-readable output on stdout (see docs/cli.md).",
    )(func)


def format_option(choices: Sequence[str], help: str) -> Callable[[F], F]:
    """``--format``: one of ``choices``, the first the default, as ``fmt``."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0],
                        show_default=True, help=help)  # fmt: skip


def seconds_option(name: str, low: float, default: float, help: str) -> Callable[[F], F]:
    """An option of a number of seconds, at least ``low`` and at most an hour."""
    return click.option(name, type=click.FloatRange(min=low, max=3600), default=default,
                        show_default=True, metavar="SECONDS", help=help)  # fmt: skip


def _shared(func: Callable[..., Any], acting_session: bool) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, home: Path | None, list_id: str, as_json: bool, **kwargs: Any) -> Any:
        # A read-only command records nothing, so it needs no acting session.
        session = kwargs.pop("session") if acting_session else "reader"
        env = Env(OPEN(home, list_id, session), as_json)
        from ._output import progress

        env.ledger.reader.progress = progress
        try:
            return func(env, *args, **kwargs)
        finally:
            flush_warnings(env.ledger)

    wrapper = json_option(wrapper)
    if acting_session:
        wrapper = session_option(wrapper)
    return home_option(list_option(wrapper))


def flush_warnings(ledger: Ledger) -> None:
    """Print the ledger's warnings on stderr (terminal-safe) and forget them."""
    from ._output import clean

    for warning in ledger.warnings:
        click.echo(f"warning: {clean(warning)}", err=True)
    ledger.warnings.clear()


def ledger_command(func: F) -> F:
    """Add ``--home/--list/--session/--json`` and pass an opened ``Env`` first."""
    return _shared(func, acting_session=True)  # type: ignore[return-value]


def reader_command(func: F) -> F:
    """Like ``ledger_command`` for a command whose own ``--session`` is a filter.

    The acting session then comes from ``$TASKLEDGER_SESSION`` or the default;
    a read-only command never records it.
    """
    return _shared(func, acting_session=False)  # type: ignore[return-value]


def json_or_nothing(env: Env, items: Sequence[Any], shape: Callable[[Any], Any], none: str) -> bool:
    """Print ``items`` as a JSON array with ``--json``, or say ``none`` when there are none;
    True when that was all there was to print."""
    if env.as_json:
        from ._output import emit_json

        emit_json([shape(item) for item in items])
        return True
    if not items:
        click.echo(none, err=True)
        return True
    return False


def stop_on_sigterm() -> threading.Event:
    """Make SIGTERM stop a long-running command: a KeyboardInterrupt, and an event its
    loop checks at each step (the exception is swallowed when it is raised inside a
    finalizer the collector runs, and the loop would go on)."""
    stop = threading.Event()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    return stop
