"""Where a list lives on disk, the names that choose it, and adopting old layouts.

Two folders per list (SPEC section 2)::

    <home>/<view-id>/                     Claude Code's folder: the materialized view
      <task-id>.json                      (also written by Claude Code itself)
    <data>/<view-id>/                     the source of truth, where Claude Code never deletes
      logs/<session>.<writer>.jsonl       append-only op logs
      writers/<session>                   which writer this machine's session appends to
      claims/<task-id>/<generation>.json  who holds a task (``_claims``)
      presence/<session>.<token>.json     which sessions run now (``_sessions``)
      view/                               what was last written to each view file (``_view``)
      cache/                              derived snapshots (``_snapshot``)

``<view-id>`` is the list id as Claude Code spells its folder (every character
outside ``[A-Za-z0-9_-]`` becomes ``-``), so ``my.proj`` is one folder, shared
with Claude Code, and one ledger. ``<data>`` is ``$TASKLEDGER_DATA``, else
derived from the home: ``~/.claude/taskledger`` for ``~/.claude/tasks`` (any
home named ``tasks``: its sibling ``taskledger``), else the sibling
``<home>.taskledger`` -- so one home is self-contained and two homes never
share a data root.

Lists made before the data root existed keep ``.ledger/`` inside their view
folder; ``adopt_legacy`` moves them (links, then unlinks), idempotently and
safely when several processes start at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._datatype import datatype
from ._errors import StorageError
from ._fs import Dir, NotRegular
from ._ids import (
    check_list_id,
    check_session,
    is_task_id,
    parse_log_name,
    sanitize_session,
    view_id,
)

LEGACY = ".ledger"
_LEGACY_PARTS = ("logs", "writers")


def default_home() -> Path:
    """``$TASKLEDGER_HOME``, else ``$CLAUDE_CONFIG_DIR/tasks``, else ``~/.claude/tasks``."""
    explicit = os.environ.get("TASKLEDGER_HOME")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    if config:
        return Path(config).expanduser() / "tasks"
    return Path.home() / ".claude" / "tasks"


def data_root_for(home: Path) -> Path:
    """The data root of a home: ``$TASKLEDGER_DATA``, else its sibling (see the module)."""
    explicit = os.environ.get("TASKLEDGER_DATA")
    if explicit:
        return Path(explicit).expanduser().absolute()
    home = home.absolute()
    if home.name == "tasks":
        return home.parent / "taskledger"
    return home.parent / f"{home.name or 'root'}.taskledger"


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
    return sanitize_session(f"{_user()}@{_host()}")


def _user() -> str:
    """``getpass.getuser``'s answer without importing ``getpass`` (and termios); ``pwd`` only
    when no variable names the user."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return "user"


def _host() -> str:
    """This machine's name (``socket.gethostname``'s, without importing ``socket``)."""
    try:
        return os.uname().nodename or "localhost"
    except (AttributeError, OSError):  # pragma: no cover - a system without uname
        return "localhost"


@datatype(frozen=True)
class Layout:
    """The folders of one list.

    Attributes:
        home: the folder of all lists' Claude Code views.
        list_id: the list's id.
        data: the data root (the folder of all lists' data).
    """

    home: Path
    list_id: str
    data: Path

    @classmethod
    def of(cls, home: Path | str | None = None, list_id: str | None = None) -> Layout:
        """The layout for a home and list id, defaults from the environment (SPEC section 1).

        Raises:
            InvalidValue: for a list id outside the allowed pattern.
        """
        root = Path(home).expanduser() if home else default_home()
        return cls(root.absolute(), check_list_id(list_id or default_list()), data_root_for(root))

    @property
    def view_id(self) -> str:
        """The list's folder name, as Claude Code spells it."""
        return view_id(self.list_id)

    @property
    def view(self) -> Path:
        """Claude Code's folder of the list, where task files are materialized."""
        return self.home / self.view_id

    @property
    def root(self) -> Path:
        """The list's own data folder."""
        return self.data / self.view_id

    @property
    def logs(self) -> Path:
        """The folder of op logs."""
        return self.root / "logs"

    def open(self, *parts: str, create: bool = False) -> Dir | None:
        """One of the list's data folders (``"logs"``, ``"cache"``, ...), never through a link.

        Raises:
            StorageError: when it is a link or not a folder, or cannot be made.
        """
        try:
            return Dir.open_below(self.data, (self.view_id, *parts), create=create)
        except OSError as exc:
            path = self.root.joinpath(*parts)
            raise StorageError(f"cannot open {path}: {exc.strerror or exc}") from exc

    def open_view(self, *, create: bool = False) -> Dir | None:
        """Claude Code's folder of the list, never through a link.

        Raises:
            StorageError: when it is a link or not a folder, or cannot be made.
        """
        try:
            return Dir.open_below(self.home, (self.view_id,), create=create)
        except OSError as exc:
            raise StorageError(f"cannot open {self.view}: {exc.strerror or exc}") from exc

    @property
    def legacy(self) -> Path:
        """Where lists made before the data root kept their ledger."""
        return self.home / self.list_id / LEGACY


def check_names(list_id: str, session: str) -> tuple[str, str]:
    """Validate a list id and a session name (raises InvalidValue)."""
    return check_list_id(list_id), check_session(session)


def adopt_legacy(layout: Layout) -> list[str]:
    """Move a list's old ``.ledger`` into the data root; return what was moved.

    Every log and writer marker is hard-linked into its new place (a copy if
    the two are on different file systems), then its old name is removed.
    A name already present in the new place is left as it is when it holds
    the same bytes; otherwise the old one is kept under ``.ledger`` and
    reported, never overwritten. Safe to run from several processes at once,
    and again after a crash.

    Raises:
        StorageError: when the folders cannot be read or written.
    """
    try:
        old = Dir.open(layout.legacy, layout.home)
    except NotRegular:
        return []  # a planted link or a file: never read through it
    except OSError as exc:
        raise StorageError(f"cannot read {layout.legacy}: {exc.strerror}") from exc
    if old is None:
        return []
    moved: list[str] = []
    with old:
        for part in _LEGACY_PARTS:
            moved += _adopt_folder(layout, old, part)
    _tidy_legacy(layout)
    return moved


def _adopt_folder(layout: Layout, old: Dir, part: str) -> list[str]:
    try:
        src = old.sub(part)
    except OSError:
        return []
    if src is None:
        return []
    moved = []
    with src:
        names = [e.name for e in src.entries() if e.is_file(follow_symlinks=False)]
        if part == "logs":
            names = [n for n in names if parse_log_name(n) is not None]
        if not names:
            return []
        dst = layout.open(part, create=True)
        assert dst is not None
        with dst:
            for name in names:
                if _move(src, dst, name):
                    moved.append(f"{part}/{name}")
    return moved


def _move(src: Dir, dst: Dir, name: str) -> bool:
    try:
        os.link(name, name, src_dir_fd=src.fd, dst_dir_fd=dst.fd, follow_symlinks=False)
    except FileExistsError:
        if src.read(name, limit=1 << 40) != dst.read(name, limit=1 << 40):
            return False  # both exist and differ: keep both, never overwrite
    except OSError:  # another file system: copy, then publish
        data = src.read(name, limit=1 << 40)
        published = data is not None and dst.publish(name, data)
        if not published and (data is None or dst.read(name, limit=1 << 40) != data):
            return False
    src.unlink(name)
    return True


def _tidy_legacy(layout: Layout) -> None:
    """Remove what is left of an adopted ``.ledger`` (derived files) when nothing else is."""
    import shutil

    for part in ("cache", "presence", "claims", "inbox"):
        shutil.rmtree(layout.legacy / part, ignore_errors=True)
    for part in _LEGACY_PARTS:
        try:
            (layout.legacy / part).rmdir()
        except OSError:
            pass
    try:
        layout.legacy.rmdir()
    except OSError:
        return
    if layout.view_id != layout.list_id:
        folder = layout.home / layout.list_id
        for path in folder.glob("*.json"):
            if is_task_id(path.stem) and not path.is_symlink():
                path.unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass


# --------------------------------------------------------------------- logs


#: the logs of a folder as ``logs_key`` sees them
LogsKey = tuple[tuple[str, int, int, int], ...]


def logs_key(stats: dict[str, os.stat_result]) -> LogsKey:
    """What tells two listings of the logs apart: each log's size, mtime and inode."""
    return tuple(sorted((n, st.st_size, st.st_mtime_ns, st.st_ino) for n, st in stats.items()))


def scan_logs(folder: Dir | None) -> dict[str, os.stat_result]:
    """Stat every log file in a folder (names that are not logs, and non-files, are ignored).

    Raises:
        StorageError: when the folder cannot be listed.
    """
    if folder is None:
        return {}
    out = {}
    try:
        entries = list(folder.entries())
    except OSError as exc:
        raise StorageError(f"cannot list the logs in {folder.path}: {exc.strerror}") from exc
    for item in entries:
        if parse_log_name(item.name) is None:
            continue
        try:
            if item.is_file(follow_symlinks=False):
                out[item.name] = item.stat(follow_symlinks=False)
        except OSError:
            continue
    return out


# ------------------------------------------------------------------ writers


def machine_id() -> str:
    """This machine's identity: ``$TASKLEDGER_MACHINE``, else a hash of its machine id or name."""
    explicit = os.environ.get("TASKLEDGER_MACHINE")
    if explicit:
        return sanitize_session(explicit)
    from ._hashing import sha256

    raw = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw:
            break
    raw = raw or _host()
    return sha256(raw.encode()).hexdigest()[:12]


def writer_of(layout: Layout, session: str, *, retire: str | None = None) -> str:
    """This machine's writer for a session, made on first use.

    The marker ``writers/<session>`` holds ``<writer> <machine>``. The first
    process of a session to need one publishes it with ``link``, which fails
    if another process got there first; the loser reads the winner's. A
    marker made on another machine (a copied data root) is not used: this
    machine gets a writer of its own, so one log file never has two writers.

    Args:
        layout: the list.
        session: the session.
        retire: a writer to replace because it cannot append safely.

    Raises:
        StorageError: when the marker cannot be read, holds no writer id, or
            the folder cannot be written.
    """
    from ._ids import is_writer_id, new_writer_id

    folder = layout.open("writers", create=True)
    assert folder is not None
    where = layout.root / "writers" / session
    with folder:
        try:
            data = folder.read(session, limit=4096)
            found = None if data is None else data.decode().split()
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read this session's writer from {where}") from exc
        if found is not None and retire is None:
            if not found or not is_writer_id(found[0]):
                raise StorageError(
                    f"{where} does not hold a writer id; remove it to start a new writer"
                )
            if len(found) < 2 or found[1] == machine_id():
                return found[0]
        logs = layout.open("logs")
        taken: set[str] = set()
        if logs is not None:
            with logs:
                taken = {p[1] for n in logs.names() if (p := parse_log_name(n)) is not None}
        writer = new_writer_id(taken)
        body = f"{writer} {machine_id()}\n".encode()
        try:
            if found is None and folder.publish(session, body):
                return writer
            if found is None:  # another process of the session published first
                return writer_of(layout, session)
            folder.write_atomic(session, body)
        except OSError as exc:
            raise StorageError(f"cannot record this session's writer in {where}") from exc
        return writer
