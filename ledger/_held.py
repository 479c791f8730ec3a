"""The list folders ``Dir.open_below`` keeps open between calls (see ``Held``)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, Self, TypeVar


class _Folder(Protocol):
    fd: int

    def sub(self, name: str, *, create: bool = False) -> Self | None: ...

    def close(self) -> None: ...


F = TypeVar("F", bound=_Folder)


class Held:
    """The folders right below a trusted one that ``open_below`` opened last, kept open.

    A list's folder (``<data>/<list>``, ``<home>/<list>``) is opened by every
    step of every op, each time with two opens and two closes. Held, it costs
    a ``stat`` of its path and a ``dup``: the path must still name the very
    folder held (same device and inode, never a link), else the folder was
    removed or replaced and is opened afresh. (A held folder's inode cannot be
    reused while it is held, so an equal inode is that folder.) At most
    ``MAX`` are held.

    A held descriptor is only ever duplicated, and closed, under the lock, in
    steps that run no other Python code (a finalizer run by the collector
    may open a folder meanwhile): no one can use a descriptor another closes.
    """

    MAX = 8

    def __init__(self) -> None:
        self._fds: dict[tuple[Path, str], tuple[int, int, int]] = {}
        self._lock = threading.RLock()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.RLock()  # (a thread of the parent's may have held it)

    def open(
        self, cls: Callable[[int, Path, tuple[str, ...]], F], below: Path,
        parts: tuple[str, ...], create: bool,
    ) -> tuple[bool, F | None]:  # fmt: skip
        """``below/parts...`` through a held ``below/parts[0]``: (False, None) when it is
        not held (or no longer that folder), else (True, the folder or None if missing)."""
        key = (below, parts[0])
        fd = -1
        with self._lock:
            found = self._fds.get(key)
            if found is not None:
                fd = os.dup(found[0])
        if found is None:
            return False, None
        folder = cls(fd, below, parts[:1])
        try:
            path = os.path.join(below, parts[0])  # noqa: PTH118 (hot: no Path made)
            st = os.stat(path, follow_symlinks=False)  # noqa: PTH116
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != found[1:] or not stat.S_ISDIR(st.st_mode):
            folder.close()
            self._drop(key, found)
            return False, None
        try:
            for part in parts[1:]:
                nxt = folder.sub(part, create=create)
                folder.close()
                if nxt is None:
                    return True, None
                folder = nxt
        except BaseException:
            folder.close()
            raise
        return True, folder

    def _drop(self, key: tuple[Path, str], found: tuple[int, int, int]) -> None:
        with self._lock:
            if self._fds.get(key) is found:
                del self._fds[key]
                os.close(found[0])

    def hold(self, below: Path, name: str, fd: int) -> None:
        """Keep a copy of ``below/name``'s descriptor (just opened by its path)."""
        try:
            st = os.fstat(fd)
            held = (os.dup(fd), st.st_dev, st.st_ino)
        except OSError:
            return
        key = (below, name)
        with self._lock:
            old = self._fds.pop(key, None)
            self._fds[key] = held
            if old is not None:
                os.close(old[0])
            while len(self._fds) > self.MAX:
                os.close(self._fds.pop(next(iter(self._fds)))[0])


HELD = Held()
