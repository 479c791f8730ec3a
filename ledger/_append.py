"""Appending to one's own log: exclusive, durable, and never behind a torn line.

Appends happen under an exclusive ``flock`` on the log file itself (only the
processes of one session ever contend for it), are a single ``write`` of the
whole line, and are followed by ``fsync`` before the lock is released: a
command that exits 0 has its record on disk. A log whose last line is torn
(its writer died mid-append) is never truncated or rewritten: the next append
first terminates the torn fragment with ``TORN_MARK``, which no JSON document
can end with, then starts its record on a fresh line.
"""

from __future__ import annotations

import fcntl
import os

from ._errors import StorageError
from ._fs import Dir, write_all
from ._log import TORN_MARK, reason


class Appender:
    """Exclusive, durable appends to one writer's own log.

    Use as a context manager: entering takes the ``flock`` (waiting for other
    processes of the same session), leaving releases it. Records appended
    inside are on disk before the lock is released.

    Args:
        folder: the logs folder.
        name: the log's file name.
    """

    def __init__(self, folder: Dir, name: str) -> None:
        self.folder = folder
        self.name = name
        self._fd = -1

    @property
    def where(self) -> str:
        """The log's path, for messages."""
        return str(self.folder.path / self.name)

    def __enter__(self) -> Appender:
        try:
            self._fd = self.folder.open_append(self.name)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if os.fstat(self._fd).st_size == 0:
                # possibly just created (by us or a process of our session):
                # make its folder entry durable before anything counts on it
                self.folder.sync()
        except OSError as exc:
            self._close()
            raise StorageError(f"cannot open log {self.where}: {reason(exc)}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the flock
            self._fd = -1

    def size(self) -> int:
        """The log's current size in bytes."""
        return os.fstat(self._fd).st_size

    def append(self, line: bytes) -> int:
        """Append one record line (without newline) and fsync it; return the offset
        it starts at when nothing came before it but whole lines, else -1.

        Raises:
            StorageError: when the write or fsync fails (the record may then be
                a torn line, which readers skip and the next append terminates).
        """
        at = self.append_unsynced(line)
        self.sync()
        return at

    def append_unsynced(self, line: bytes) -> int:
        """Append one record line without waiting for the disk (bulk loads; call ``sync``);
        return the offset it starts at, or -1 after terminating a torn line.

        Raises:
            StorageError: when the write fails.
        """
        try:
            size = os.fstat(self._fd).st_size
            data = line + b"\n"
            at = size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                data, at = TORN_MARK + data, -1
            write_all(self._fd, data)
        except OSError as exc:
            raise StorageError(f"cannot append to {self.where}: {reason(exc)}") from exc
        return at

    def sync(self) -> None:
        """Wait until everything appended is on disk.

        Raises:
            StorageError: when fsync fails.
        """
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise StorageError(f"cannot sync {self.where}: {reason(exc)}") from exc
