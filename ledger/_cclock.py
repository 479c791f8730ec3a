"""Claude Code's own locks in its task folder, and its ``.highwatermark``.

Claude Code guards its task files with proper-lockfile's protocol: a lock is
a folder ``<path>.lock`` made with ``mkdir`` (which fails if it exists), held
for the length of one read-modify-write, and *stale* once its mtime is older
than 10 s (its holder refreshes the mtime every 5 s); a waiter retries 30
times, 5-100 ms apart. The task lock of ``<id>.json`` is ``<id>.json.lock``;
the list lock is ``.lock.lock``, taken on an empty anchor file ``.lock`` (by
create, reset and the raising of ``.highwatermark``). taskledger takes the
same locks around every write of a task file, so neither side ever writes a
file the other is in the middle of reading and rewriting.

``.highwatermark`` holds the highest number Claude Code has handed out (a
plain decimal, no newline); Claude Code numbers a new task
``max(parseInt(name) of every *.json, .highwatermark) + 1``. taskledger only
ever raises it (never lowers it), under the list lock.

Checked against Claude Code 2.1.112 and 2.1.332 (docs/claude-code.md).
"""

from __future__ import annotations

import errno
import stat
import time
from collections.abc import Callable, Iterable

from ._fs import Dir

STALE_S = 10.0
HIGHWATERMARK = ".highwatermark"
LIST_ANCHOR = ".lock"


class Busy(Exception):
    """A Claude Code lock stayed taken for longer than we wait (internal)."""


class LockDir:
    """proper-lockfile's lock of one file: the folder ``<name>.lock``.

    Args:
        folder: the task folder.
        name: the file the lock guards (``<id>.json``, or ``.lock`` for the list).
        timeout_s: how long to wait for a lock someone holds.
        clock: seconds since the epoch (the lock folder's mtime is compared with it).
    """

    def __init__(
        self,
        folder: Dir,
        name: str,
        *,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.lock = f"{name}.lock"
        self.timeout_s = timeout_s
        self.clock = clock
        self.held = False

    def __enter__(self) -> LockDir:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, breaking it only once it is stale.

        Raises:
            Busy: when it stays held by someone live for ``timeout_s``.
            OSError: when the folder refuses.
        """
        deadline = time.monotonic() + self.timeout_s
        delay = 0.002
        while True:
            if self.folder.mkdir(self.lock):
                self.held = True
                return
            st = self.folder.lstat(self.lock)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                # proper-lockfile only ever makes folders: this is no one's lock
                raise Busy(f"{self.folder.path / self.lock} is not a lock folder")
            if st is not None and self.clock() - st.st_mtime > STALE_S:
                try:
                    self.folder.rmdir(self.lock)  # stale: its holder died
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.ENOTDIR):
                        raise
                continue
            if time.monotonic() > deadline:
                raise Busy(f"{self.folder.path / self.lock} is held")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)  # held for a write of one file: milliseconds

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self.held:
            self.held = False
            try:
                self.folder.rmdir(self.lock)
            except OSError:
                pass

    def fresh(self) -> bool:
        """True when someone (else) holds this lock right now."""
        st = self.folder.lstat(self.lock)
        return st is not None and self.clock() - st.st_mtime <= STALE_S


def read_highwatermark(folder: Dir) -> int:
    """The folder's ``.highwatermark`` (0 when missing or unreadable, as Claude Code reads it)."""
    try:
        data = folder.read(HIGHWATERMARK, limit=64)
    except OSError:
        return 0
    try:
        return int((data or b"").strip() or b"0")
    except ValueError:
        return 0


def raise_highwatermark(folder: Dir, value: int) -> None:
    """Make ``.highwatermark`` at least ``value``, under Claude Code's list lock.

    Raises:
        Busy: when the list lock stays held.
        OSError: when the folder refuses.
    """
    if read_highwatermark(folder) >= value:
        return
    if folder.lstat(LIST_ANCHOR) is None:
        folder.publish(LIST_ANCHOR, b"")
    with LockDir(folder, LIST_ANCHOR):
        if read_highwatermark(folder) < value:
            folder.write_atomic(HIGHWATERMARK, str(value).encode())


def restore_highwatermark(folder: Dir, names: Iterable[str]) -> bool:
    """Raise ``.highwatermark`` past every native number among ``names``; False if it could not."""
    numbers = [int(n) for n in names if n.isdigit()]
    try:
        if numbers:
            raise_highwatermark(folder, max(numbers))
    except (Busy, OSError):
        return False
    return True
