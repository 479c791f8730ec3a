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
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class Held:
    """The folders right below a trusted one that ``open_below`` opened last, kept open.

    A list's folder (``<data>/<list>``, ``<home>/<list>``) is opened by every
    step of every op, each time with two opens and two closes. Held, it costs
    a ``stat`` of its path and one open of ``.`` relative to the held
    descriptor: the path must still name the very folder held (same device
    and inode, never a link), else the folder was removed or replaced and is
    opened afresh; any error through a held folder drops it and opens afresh
    too (a stale handle on a network file system). Each caller gets its own
    open of the folder -- never a ``dup``, which would share one read position
    between two listings. At most ``MAX`` are held; a forked child holds none.

    A held descriptor is only opened from, and closed, under the lock, and an
    entry is used only if it is still the one looked up after the open (a
    finalizer run by the collector may open a folder meanwhile): no one can
    use a descriptor another closed.
    """

    MAX = 8

    def __init__(self) -> None:
        self._fds: dict[tuple[Path, str], tuple[int, int, int]] = {}
        self._lock = threading.RLock()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.RLock()  # (a thread of the parent's may have held it)
        fds, self._fds = self._fds, {}
        for fd, _, _ in fds.values():
            os.close(fd)

    def _reopen(self, key: tuple[Path, str]) -> tuple[tuple[int, int, int] | None, int]:
        """The entry held under ``key`` and a new descriptor of its folder (or -1)."""
        with self._lock:
            found = self._fds.get(key)
            if found is None:
                return None, -1
            try:
                fd = os.open(".", _DIR_FLAGS, dir_fd=found[0])
            except OSError:
                fd = -1
            if self._fds.get(key) is not found:  # (changed while it was opened)
                if fd >= 0:
                    os.close(fd)
                return None, -1
        return found, fd

    def open(
        self, cls: Callable[[int, Path, tuple[str, ...]], F], below: Path,
        parts: tuple[str, ...], create: bool,
    ) -> tuple[bool, F | None]:  # fmt: skip
        """``below/parts...`` through a held ``below/parts[0]``: (False, None) when it is
        not held (or no longer that folder), else (True, the folder or None if missing)."""
        key = (below, parts[0])
        found, fd = self._reopen(key)
        if found is None:
            return False, None
        if fd < 0:
            self._drop(key, found)
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
        except OSError:
            folder.close()
            self._drop(key, found)  # (the path below opens afresh, and says what is wrong)
            return False, None
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
        """Keep a descriptor of ``below/name`` (``fd``: just opened by its path)."""
        try:
            st = os.fstat(fd)
            held = (os.open(".", _DIR_FLAGS, dir_fd=fd), st.st_dev, st.st_ino)
        except OSError:
            return
        key = (below, name)
        with self._lock:
            old = self._fds.pop(key, None)
            self._fds[key] = held
            if old is not None:
                os.close(old[0])
            while len(self._fds) > self.MAX:
                oldest = self._fds.pop(next(iter(self._fds)), None)
                if oldest is not None:
                    os.close(oldest[0])


HELD = Held()
