"""Where a list lives on disk, and the names that choose it.

Layout of one list (SPEC section 2)::

    <home>/<list-id>/
      <task-id>.json                      materialized view (derived)
      .ledger/
        logs/<session>.<writer>.jsonl     append-only op logs (the source of truth)
        writers/<session>                 which writer this replica's session appends to
        claims/<task-id>/<generation>     who holds a task (see ``_claims``)
        presence/<session>.<token>.json   which sessions run now (see ``_presence``)
        cache/                            derived views and snapshots
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ._errors import InvalidValue, StorageError

LIST_PATTERN = "1-64 characters of [A-Za-z0-9._-], not starting with '.'"
SESSION_PATTERN = "1-64 characters of [A-Za-z0-9._@-], not starting with '.'"

_LIST_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
# '@' is allowed in session names (and only there) so that SPEC's own default,
# <user>@<host>, is a valid session name.
_SESSION_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}")
_WRITER_RE = re.compile(r"[0-9a-f]{13}")
LOG_SUFFIX = ".jsonl"


_TASK_ID_RE = re.compile(r"[0-9a-f]{16}")


def is_task_id(value: str) -> bool:
    """Tell whether a string is a full task id (16 lowercase hex digits)."""
    return bool(_TASK_ID_RE.fullmatch(value))


def check_list_id(value: str) -> str:
    """Return a valid list id unchanged.

    Raises:
        InvalidValue: naming the allowed pattern.
    """
    if not _LIST_RE.fullmatch(value):
        raise InvalidValue(f"invalid list id {value!r}: use {LIST_PATTERN}")
    return value


def check_session(value: str) -> str:
    """Return a valid session name unchanged.

    Raises:
        InvalidValue: naming the allowed pattern.
    """
    if not _SESSION_RE.fullmatch(value):
        raise InvalidValue(f"invalid session name {value!r}: use {SESSION_PATTERN}")
    return value


def is_writer_id(value: str) -> bool:
    """Tell whether a string is a writer id (13 lowercase hex digits)."""
    return bool(_WRITER_RE.fullmatch(value))


def default_home() -> Path:
    """The home folder of all lists when none is given.

    ``$TASKLEDGER_HOME``, else ``$CLAUDE_CONFIG_DIR/tasks``, else
    ``~/.claude/tasks``.
    """
    explicit = os.environ.get("TASKLEDGER_HOME")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    if config:
        return Path(config).expanduser() / "tasks"
    return Path.home() / ".claude" / "tasks"


def default_list() -> str:
    """``$TASKLEDGER_LIST``, else ``$CLAUDE_CODE_TASK_LIST_ID``, else ``default``."""
    return (
        os.environ.get("TASKLEDGER_LIST") or os.environ.get("CLAUDE_CODE_TASK_LIST_ID") or "default"
    )


def default_session() -> str:
    """``$TASKLEDGER_SESSION``, else ``<user>@<host>`` made into a valid name."""
    explicit = os.environ.get("TASKLEDGER_SESSION")
    if explicit:
        return explicit
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    raw = f"{user}@{socket.gethostname() or 'localhost'}"
    name = re.sub(r"[^A-Za-z0-9._@-]", "-", raw).lstrip(".")[:64]
    return name or "session"


def log_name(session: str, writer: str) -> str:
    """The file name of a writer's log."""
    return f"{session}.{writer}{LOG_SUFFIX}"


def parse_log_name(name: str) -> tuple[str, str] | None:
    """Split ``<session>.<writer>.jsonl`` into its parts, or None if it is not one."""
    if not name.endswith(LOG_SUFFIX):
        return None
    session, dot, writer = name[: -len(LOG_SUFFIX)].rpartition(".")
    if not dot or not is_writer_id(writer) or not _SESSION_RE.fullmatch(session):
        return None
    return session, writer


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths of one list.

    Attributes:
        home: the folder of all lists.
        list_id: the list's id.
    """

    home: Path
    list_id: str

    @property
    def root(self) -> Path:
        """The list folder, where the materialized task files live."""
        return self.home / self.list_id

    @property
    def ledger(self) -> Path:
        """The ``.ledger`` folder."""
        return self.root / ".ledger"

    @property
    def logs(self) -> Path:
        """The folder of op logs."""
        return self.ledger / "logs"

    @property
    def writers(self) -> Path:
        """The folder that records each local session's writer."""
        return self.ledger / "writers"

    @property
    def claims(self) -> Path:
        """The folder of claim generations (one folder per claimed task)."""
        return self.ledger / "claims"

    @property
    def presence(self) -> Path:
        """The folder of presence files (one per running watch or MCP server)."""
        return self.ledger / "presence"

    @property
    def cache(self) -> Path:
        """The folder of derived caches."""
        return self.ledger / "cache"


def scan_logs(logs_dir: Path) -> dict[str, os.stat_result]:
    """Stat every log file in a folder (names that are not logs are ignored).

    Raises:
        StorageError: when the folder exists but cannot be listed.
    """
    try:
        entries = list(os.scandir(logs_dir))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StorageError(f"cannot list the logs in {logs_dir}: {exc.strerror}") from exc
    out = {}
    for item in entries:
        if parse_log_name(item.name) is not None:
            try:
                if item.is_file():
                    out[item.name] = item.stat()
            except OSError:
                continue
    return out
