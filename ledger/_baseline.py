"""What taskledger knows of Claude Code's folder: the bytes it last wrote to each file.

Kept in the list's data folder, ``view/``:

* ``<id>.txt`` -- the bytes last written to a task's file (its *baseline*):
  a file that still holds them changed only if someone else wrote it;
* ``<id>.hidden`` -- the op at which Claude Code's panel reset hid a
  completed task (it stays out of the folder until it changes again);
* ``<name>.by`` -- a hook's word on which session is writing a file now;
* ``stats.json`` -- each file's stat and the folder's as the last pass left
  them (a cache: lost, it costs one full comparison).

``quiet`` answers the question every command asks -- did anything happen in
the folder since the last pass? -- with one ``stat`` and one small read, and
imports nothing else of the ledger.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from . import _json
from ._fs import Dir
from ._ids import is_native_id, is_session, is_task_id
from ._layout import Layout

if TYPE_CHECKING:
    from ._model import Task

_QUIET_NS = 50_000_000  # a folder mtime this close to a pass may hide a later change


def settled(layout: Layout) -> bool:
    """True when nothing changed in the folder since the last pass.

    One ``stat`` when the folder's stamp can be trusted; otherwise a scan that
    compares every file's stat with the one the last pass left -- and the
    bytes of a file written so recently that its stat cannot tell -- and
    trusts the folder from then on if it is quiet now.
    """
    try:
        folder = layout.open_view()
    except OSError:
        return False
    if folder is None:
        return False
    with folder, Baselines(layout) as marks:
        st = os.fstat(folder.fd)
        if marks.quiet(st):
            return True
        if marks.at is None or marks.pending or marks.replaced(st):
            return False
        started = time.time_ns()
        names = scan(folder)
        if names.keys() != marks.stats.keys():
            return False
        for name, stat in names.items():
            if marks.stat(name) != stat:
                return False
            if stat[1] + _QUIET_NS > marks.at and not marks.same(folder, name):
                return False
        marks.settle(folder, started)
        return True


def scan(folder: Dir) -> dict[str, tuple[int, int, int]]:
    """The task-like files of the folder: name (without ``.json``) -> (size, mtime, inode)."""
    out = {}
    for entry in folder.entries():
        name = entry.name
        if not name.endswith(".json") or name.startswith("."):
            continue
        stem = name[:-5]
        if not (is_task_id(stem) or is_native_id(stem)):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        out[stem] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


class Baselines:
    """What taskledger knows of the folder, kept in the data root's ``view/``.

    ``<id>.txt`` holds the bytes last written to a task's file (its
    baseline), ``<id>.hidden`` the op a reset hid the task at, ``<name>.by``
    a hook's word on which session writes a file now, and ``stats.json``
    each file's stat and the folder's as the last pass left them (a cache).
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir: Dir | None = None
        self.stats: dict[str, list[int | str]] = {}
        self.folder: list[int] | None = None
        self.dirty = False
        self.names: set[str] = set()
        self.at: int | None = None  # when the last pass recorded the stats (ns)
        self.pending = False  # the last pass left something undone

    def __enter__(self) -> Baselines:
        self.dir = self.layout.open("view")
        self.names = set() if self.dir is None else set(self.dir.names())
        raw = None if self.dir is None else self._json("stats.json")
        if isinstance(raw, dict):
            self.stats = {k: v for k, v in raw.get("files", {}).items() if isinstance(v, list)}
            folder = raw.get("folder")
            self.folder = folder if isinstance(folder, list) else None
            at = raw.get("at")
            self.at = at if type(at) is int else None
            self.pending = raw.get("pending") is True
        return self

    def _writable(self) -> Dir:
        if self.dir is None:
            self.dir = self.layout.open("view", create=True)
            assert self.dir is not None
        return self.dir

    def __exit__(self, *exc_info: object) -> None:
        if self.dirty:
            self._writable()
        if self.dir is not None:
            if self.dirty:
                body = {
                    "folder": self.folder,
                    "at": time.time_ns(),
                    "pending": self.pending,
                    "files": self.stats,
                }
                try:
                    self.dir.write_atomic("stats.json", _json.dumps_bytes(body))
                except OSError:
                    pass
            self.dir.close()

    def _json(self, name: str) -> object:
        if self.dir is None:
            return None
        try:
            data = self.dir.read(name)
            return None if data is None else _json.loads(data, depth=None)
        except (OSError, ValueError):
            return None

    def quiet(self, st: os.stat_result) -> bool:
        return self.folder == [st.st_ino, st.st_mtime_ns]

    def replaced(self, st: os.stat_result) -> bool:
        return self.folder is not None and self.folder[0] != st.st_ino

    def settle(self, folder: Dir, started_ns: int) -> None:
        """Trust the folder's stamp from now on, if it is older than the pass."""
        self.pending = False
        st = os.fstat(folder.fd)
        trusted = st.st_mtime_ns < started_ns - _QUIET_NS
        self.folder = [st.st_ino, st.st_mtime_ns] if trusted else None
        self.dirty = True

    def stat(self, name: str) -> tuple[int, int, int] | None:
        found = self.stats.get(name)
        if found is None or len(found) != 4:
            return None
        size, mtime, ino, _ = found
        if not (type(size) is int and type(mtime) is int and type(ino) is int):
            return None
        return size, mtime, ino

    def same(self, folder: Dir, name: str) -> bool:
        """Whether a file holds exactly its task's baseline."""
        found = self.stats.get(name)
        task_id = None if found is None or len(found) != 4 else found[3]
        if type(task_id) is not str:
            return False
        try:
            return folder.read(f"{name}.json") == self.baseline(task_id)
        except OSError:
            return False

    def unsettle(self, name: str | None = None) -> None:
        """Look at the folder again next time (and at this file)."""
        self.folder = None
        self.pending = True
        if name is not None:
            self.stats.pop(name, None)
        self.dirty = True

    def has_baseline(self, task_id: str) -> bool:
        return f"{task_id}.txt" in self.names

    def baseline(self, task_id: str) -> bytes | None:
        if self.dir is None or not self.has_baseline(task_id):
            return None
        try:
            return self.dir.read(f"{task_id}.txt")
        except OSError:
            return None

    def hidden(self, task: Task) -> bool:
        """Whether a reset hid the task and it has not changed since."""
        if self.dir is None or f"{task.id}.hidden" not in self.names:
            return False
        try:
            mark = self.dir.read(f"{task.id}.hidden", limit=256)
        except OSError:
            return False
        return (
            mark is not None
            and task.updated is not None
            and mark.decode(errors="replace") == task.updated.ref
        )

    def keep(self, task_id: str, name: str, data: bytes, st: os.stat_result | None) -> None:
        folder = self._writable()
        folder.write_atomic(f"{task_id}.txt", data)
        self.names.add(f"{task_id}.txt")
        if f"{task_id}.hidden" in self.names:
            folder.unlink(f"{task_id}.hidden")
            self.names.discard(f"{task_id}.hidden")
        if st is not None:
            self.stats[name] = [st.st_size, st.st_mtime_ns, st.st_ino, task_id]
        self.dirty = True

    def forget(self, task_id: str, name: str | None = None) -> None:
        self._writable().unlink(f"{task_id}.txt")
        self.names.discard(f"{task_id}.txt")
        if name is not None:
            self.stats.pop(name, None)
        self.dirty = True

    def hide(self, task: Task) -> None:
        self._writable()
        assert self.dir is not None
        ref = "" if task.updated is None else task.updated.ref
        self.dir.write_atomic(f"{task.id}.hidden", ref.encode())
        self.names.add(f"{task.id}.hidden")
        self.dir.unlink(f"{task.id}.txt")
        self.names.discard(f"{task.id}.txt")
        self.dirty = True

    @staticmethod
    def name_writer(layout: Layout, names: list[str], session: str, until_ms: int) -> None:
        """Say that ``session`` writes these files until ``until_ms`` (a hook's word;
        the name ``.create`` stands for a file Claude Code is about to create)."""
        folder = layout.open("view", create=True)
        assert folder is not None
        body = f"{session} {until_ms}".encode()
        with folder:
            for name in names:
                if name == ".create" or is_native_id(name) or is_task_id(name):
                    folder.write_atomic(f"{name}.by", body)

    @staticmethod
    def hint(layout: Layout, name: str, *, creating: bool = False) -> str | None:
        """The session a hook said writes ``<name>.json`` now, if it said so lately
        (``creating``: a new file, which a hook may have announced before its name)."""
        folder = layout.open("view")
        if folder is None:
            return None
        with folder:
            try:
                data = folder.read(f"{name}.by", limit=256)
                if data is None and creating:
                    data = folder.read(".create.by", limit=256)
            except OSError:
                return None
        if data is None:
            return None
        try:
            session, until = data.decode().split()
            fresh = int(until) > time.time_ns() // 1_000_000
        except ValueError:
            return None
        return session if fresh and is_session(session) else None
