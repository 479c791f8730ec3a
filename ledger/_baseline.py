"""What taskledger knows of Claude Code's folder: the bytes it last wrote to each file.

Kept in the list's data folder, ``view/``:

* ``<id>.txt`` -- the bytes last written to a task's file (its *baseline*):
  a file that still holds them changed only if someone else wrote it;
* ``<id>.hidden`` -- the op at which Claude Code's panel reset hid a
  completed task (it stays out of the folder until it changes again);
* ``<name>.by`` -- a hook's word on which session is writing a file now;
* ``folder.json`` -- the folder's stamp as the last pass left it, and
  ``stats.<xx>.json`` -- the stat of each file whose name starts with ``xx``
  (a cache: lost, it costs one full comparison).

``settled`` (in ``_settled``) answers the question every command asks --
did anything happen in the folder since the last pass? -- from the stamp.
A long-lived process writes the stats and the stamp at most once a second
(``_carry``).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from . import _json
from ._fs import MAX_GRAIN_NS, Dir, probe_grain
from ._ids import is_native_id, is_session, is_task_id
from ._layout import Layout

if TYPE_CHECKING:
    from ._carry import Carry
    from ._model import Task

#: a folder mtime this close to a pass may hide a later change, where the file
#: system's timestamp granularity is not known (``probe_grain`` measures it)
_QUIET_NS = 50_000_000


def _shard(name: str) -> str:
    """Which stats file holds a task file's stat (its first two characters)."""
    return name[:2] if len(name) >= 2 else f"{name}_"


class Baselines:
    """What taskledger knows of the folder, kept in the data root's ``view/``.

    ``<id>.txt`` holds the bytes last written to a task's file (its
    baseline), ``<id>.hidden`` the op a reset hid the task at, ``<name>.by``
    a hook's word on which session writes a file now, ``folder.json`` the
    folder's stamp as the last pass left it, and ``stats.<xx>.json`` the stat
    of each file whose name starts with ``xx`` (a cache). Everything is read
    when it is needed: a write that touches one task file reads one stats
    file and one baseline, whatever the size of the list.
    """

    def __init__(self, layout: Layout, carry: Carry | None = None) -> None:
        self.layout = layout
        self.carry = carry  # (a long-lived process's: see ``_carry``)
        self.dir: Dir | None = None
        self._stats: dict[str, dict[str, list[int | str]]] = {}
        self._changed: set[str] = set()
        self._mine: dict[str, dict[str, list[int | str] | None]] = {}  # set here, by shard
        self.folder: list[int] | None = None
        self.dirty = False
        self._names: set[str] | None = None
        self.at: int | None = None  # when the last pass recorded the stats (ns)
        self.pending = False  # the last pass left something undone
        self.grain: int | None = None  # the file system's timestamp granularity (ns)
        self.opened_ns = 0  # when this pass began
        self._read_stamp: object = None  # folder.json as this pass read it

    def __enter__(self) -> Baselines:
        self.opened_ns = time.time_ns()
        self.dir = self.layout.open("view")
        raw = None if self.dir is None else self._json("folder.json")
        self._read_stamp = raw  # (as read: ``_overtaken`` compares it with the disk's later)
        if isinstance(raw, dict):
            folder = raw.get("folder")
            self.folder = folder if isinstance(folder, list) else None
            at = raw.get("at")
            self.at = at if type(at) is int else None
            self.pending = raw.get("pending") is True
            grain = raw.get("grain")
            self.grain = grain if type(grain) is int and 0 <= grain <= MAX_GRAIN_NS else None
        carry = self.carry
        if carry is not None and carry and self.pending and raw != carry.seen:
            carry.clear()  # a later pass left work undone (a failed write): re-look, not trust
        if carry is not None and carry.stamp is not None:
            if self.at is not None and self.at > carry.stamp[1]:
                carry.clear()  # another process's pass came after: what it wrote stands
            else:
                self.folder, self.at, self.pending, grain = carry.stamp
                self.grain = grain if grain is not None else self.grain
        return self

    @property
    def quiet_ns(self) -> int:
        """How old a change must be before the folder's mtime is sure to show the next one."""
        return _QUIET_NS if self.grain is None else 2 * self.grain + 1_000_000

    def _writable(self) -> Dir:
        if self.dir is None:
            self.dir = self.layout.open("view", create=True)
            assert self.dir is not None
        return self.dir

    def __exit__(self, *exc_info: object) -> None:
        at = time.time_ns()
        if self.dirty or self._changed:
            self._writable()
        if self.dir is not None:
            if (self.dirty or self._changed or self._mine or self.carry) and self._overtaken():
                self._only_removals()
            try:
                if self.dirty and self.grain is None:
                    self.grain = probe_grain(self.dir)
                if self.carry is not None:
                    at = self._carried(at)
                for shard in sorted(self._changed):
                    body = _json.dumps_bytes(self._stats[shard])
                    self.dir.write_atomic(f"stats.{shard}.json", body)
                if self.dirty:
                    stamp = {"folder": self.folder, "at": at, "pending": self.pending,
                             "grain": self.grain}  # fmt: skip
                    self.dir.write_atomic("folder.json", _json.dumps_bytes(stamp))
            except OSError:
                pass
            self.dir.close()

    def _overtaken(self) -> bool:
        """Whether another process's pass left work undone since this one read the stamp:
        a write of a newer version of some task failed, and removed its file's stat. A
        file this pass found current may be that one. (Stamps are compared, not their
        times: a writer takes its ``at`` before it writes, and clocks can step back.)"""
        now = self._json("folder.json")
        return isinstance(now, dict) and now.get("pending") is True and now != self._read_stamp

    def _only_removals(self) -> None:
        """Write none of the stats this pass (or the carry) vouches for, and no stamp
        over the pending one: only the stats it removed (its own failed files)."""
        removed = [name for m in self._mine.values() for name, v in m.items() if v is None]
        if self.carry is not None:
            self.carry.clear()
        self._stats, self._changed, self._mine = {}, set(), {}
        for name in removed:
            self._set_stat(name, None)  # (from the stats file as it is now)
        self.dirty = self.dirty and self.pending

    def _carried(self, at: int) -> int:
        """Leave this pass's writes to a later one (a long-lived process: see ``_carry``),
        or, when they are due, make this pass write everything carried; return the
        stamp's time."""
        carry = self.carry
        assert carry is not None
        stamp = (self.folder, at, self.pending, self.grain) if self.dirty else None
        carry.take(self._mine, stamp, self._read_stamp)
        self._changed.clear()
        self.dirty = False
        if not carry.due() and not self.pending:
            return at
        for shard in carry.stats:
            self._shard_stats(shard)  # (read, with what is carried on top)
            self._changed.add(shard)
        if carry.stamp is not None:
            self.folder, at, self.pending, self.grain = carry.stamp
            self.dirty = True
        carry.clear()
        return at

    def _json(self, name: str) -> object:
        if self.dir is None:
            return None
        try:
            data = self.dir.read(name)
            return None if data is None else _json.loads(data, depth=None)
        except (OSError, ValueError):
            return None

    def _shard_stats(self, name: str) -> dict[str, list[int | str]]:
        """The stats file holding a file's stat (``name``: the file's name, or a shard's)."""
        shard = _shard(name)
        found = self._stats.get(shard)
        if found is None:
            raw = self._json(f"stats.{shard}.json")
            found = (
                {k: v for k, v in raw.items() if isinstance(v, list)}
                if isinstance(raw, dict)
                else {}
            )
            carried = None if self.carry is None else self.carry.stats.get(shard)
            for changes in (carried, self._mine.get(shard)):  # (this pass's, unread before)
                for key, value in (changes or {}).items():
                    if value is None:
                        found.pop(key, None)
                    else:
                        found[key] = value
            self._stats[shard] = found
        return found

    @property
    def names(self) -> set[str]:
        """Every name in ``view/`` (listed on first use: a full pass needs them all)."""
        if self._names is None:
            self._names = set() if self.dir is None else set(self.dir.names())
        return self._names

    def _has(self, name: str) -> bool:
        if self._names is not None:
            return name in self._names
        return self.dir is not None and self.dir.lstat(name) is not None

    def _named(self, name: str, present: bool) -> None:
        if self._names is not None:
            (self._names.add if present else self._names.discard)(name)

    def all_stats(self) -> dict[str, list[int | str]]:
        """Every file's stat as the last passes left them."""
        out: dict[str, list[int | str]] = {}
        shards = {e[6:-5] for e in self.names if e.startswith("stats.") and e.endswith(".json")}
        if self.carry is not None:  # (a shard whose stats are all carried has no file yet)
            shards.update(self.carry.stats)
        shards.update(self._mine)
        for shard in sorted(shards):
            out.update(self._shard_stats(shard))
        for stats in self._stats.values():
            out.update(stats)
        return out

    def _set_stat(self, name: str, value: list[int | str] | None) -> None:
        shard = _shard(name)
        if self.carry is not None and shard not in self._stats:  # (carried: the file is
            self._mine.setdefault(shard, {})[name] = value  # read when written, ``_carried``)
            self._changed.add(shard)
            return
        stats = self._shard_stats(name)
        if value is None:
            if stats.pop(name, None) is None:
                return
        else:
            stats[name] = value
        self._changed.add(_shard(name))
        self._mine.setdefault(_shard(name), {})[name] = value

    def quiet(self, st: os.stat_result) -> bool:
        return self.folder == [st.st_ino, st.st_mtime_ns]

    def replaced(self, st: os.stat_result) -> bool:
        return self.folder is not None and self.folder[0] != st.st_ino

    def settle(self, folder: Dir, started_ns: int) -> None:
        """Trust the folder's stamp from now on, if it is older than the pass."""
        st = os.fstat(folder.fd)
        trusted = st.st_mtime_ns < started_ns - self.quiet_ns
        self._stamp([st.st_ino, st.st_mtime_ns] if trusted else None, pending=False)

    def _stamp(self, folder: list[int] | None, *, pending: bool) -> None:
        """Set the folder's stamp; written at the end only if it changed (a folder
        other writers keep busy is left untrusted without a write per pass)."""
        if (folder, pending) != (self.folder, self.pending) or self.at is None:
            self.folder, self.pending = folder, pending
            self.dirty = True

    def restamp(self, st: os.stat_result) -> None:
        """The folder's stamp after this process's own writes to a quiet folder."""
        self._stamp([st.st_ino, st.st_mtime_ns], pending=self.pending)

    def stat(self, name: str) -> tuple[int, int, int] | None:
        found = self._shard_stats(name).get(name)
        if found is None or len(found) != 4:
            return None
        size, mtime, ino, _ = found
        if not (type(size) is int and type(mtime) is int and type(ino) is int):
            return None
        return size, mtime, ino

    def same(self, folder: Dir, name: str) -> bool:
        """Whether a file holds exactly its task's baseline."""
        found = self._shard_stats(name).get(name)
        task_id = None if found is None or len(found) != 4 else found[3]
        if type(task_id) is not str:
            return False
        try:
            return folder.read(f"{name}.json") == self.baseline(task_id)
        except OSError:
            return False

    def unsettle(self, name: str | None = None) -> None:
        """Look at the folder again next time (and at this file)."""
        self._stamp(None, pending=True)
        if name is not None:
            self._set_stat(name, None)

    def has_baseline(self, task_id: str) -> bool:
        return self._has(f"{task_id}.txt")

    def baseline(self, task_id: str) -> bytes | None:
        if self.dir is None or not self.has_baseline(task_id):
            return None
        try:
            return self.dir.read(f"{task_id}.txt")
        except OSError:
            return None

    def hidden(self, task: Task) -> bool:
        """Whether a reset hid the task and it has not changed since."""
        if self.dir is None or not self._has(f"{task.id}.hidden"):
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

    def keep(
        self, task_id: str, name: str, data: bytes, st: os.stat_result | None, base: bytes | None
    ) -> None:
        """``data`` is what the file holds now (``base``: the baseline as read under the lock)."""
        folder = self._writable()
        if base != data:
            folder.write_atomic(f"{task_id}.txt", data)
            self._named(f"{task_id}.txt", True)
        if self._has(f"{task_id}.hidden"):
            folder.unlink(f"{task_id}.hidden")
            self._named(f"{task_id}.hidden", False)
        if st is not None:
            self._set_stat(name, [st.st_size, st.st_mtime_ns, st.st_ino, task_id])

    def confirm(self, task_id: str, name: str, st: os.stat_result) -> None:
        """A file found holding its baseline: remember its stat for this pass.

        Not written out for this alone: the file's writer recorded it, and
        where that record was lost (two writers of one stats file), the next
        pass confirms the file again -- cheaper than rewriting a stats file for
        every file each read confirms while many writers keep the folder busy.
        """
        value: list[int | str] = [st.st_size, st.st_mtime_ns, st.st_ino, task_id]
        stats = self._shard_stats(name)
        old_enough = st.st_mtime_ns < self.opened_ns - self.quiet_ns  # (a same-size write
        # in the file's mtime tick after the read would not show in its stat)
        if self.carry is not None and stats.get(name) != value and old_enough:
            # a long-lived process carries it (written within a second): a stats
            # file its writer never wrote would otherwise be confirmed file by
            # file on every pass, by every process, for ever
            self._mine.setdefault(_shard(name), {})[name] = value
        stats[name] = value

    def forget(self, task_id: str, name: str | None = None) -> None:
        self._writable().unlink(f"{task_id}.txt")
        self._named(f"{task_id}.txt", False)
        if name is not None:
            self._set_stat(name, None)

    def hide(self, task: Task) -> None:
        self._writable()
        assert self.dir is not None
        ref = "" if task.updated is None else task.updated.ref
        self.dir.write_atomic(f"{task.id}.hidden", ref.encode())
        self._named(f"{task.id}.hidden", True)
        self.dir.unlink(f"{task.id}.txt")
        self._named(f"{task.id}.txt", False)

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
