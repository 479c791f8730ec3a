"""File-system primitives with one policy for links, special files, modes and fsync.

Everything the ledger creates, replaces or removes lives in a list's own
folders, and a name inside them is always resolved relative to an open
directory (``Dir``), one component at a time with ``O_NOFOLLOW``. So a
symbolic link planted anywhere below a list's folder -- at a folder, at a
log, at a cache file, at a task file -- is never followed: opening it fails
(``NotRegular``), and replacing or removing it acts on the link itself. The
folders above (the home and the data root) are the user's to arrange and are
followed like any path.

Reads open with ``O_NONBLOCK`` and refuse anything that is not a regular file
after ``fstat``, so a FIFO or a device where a file is expected never blocks a
command. Reads of files that others may write (task files, claim files) are
bounded in size.

Modes are chosen, not left to the umask: folders ``0o700``, files ``0o600``
(the umask can only take bits away). Fsync policy: a log append is fsynced,
and so is the folder entry of a new log (``Appender``); every other file is
derived or re-derivable and is written atomically (temp file + rename) but
not fsynced.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ._held import HELD

DIR_MODE = 0o700
FILE_MODE = 0o600
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: the most a file written by others (a task file, a claim) may hold
READ_LIMIT = 16 << 20


class NotRegular(OSError):
    """A name that is a link, a FIFO, a device or a folder where a file was expected."""


def _refuse(path: Path | str, what: str) -> NotRegular:
    return NotRegular(errno.EINVAL, f"{path} is {what}, not a regular file")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


class Dir:
    """An open folder of the ledger's; names inside are never followed through links.

    Use ``Dir.open`` or ``sub``; close with ``close`` or as a context manager.

    Args:
        fd: an open directory descriptor (owned by this object).
        path: its path, for messages.
    """

    __slots__ = ("_parts", "_path", "fd")

    def __init__(self, fd: int, path: Path, parts: tuple[str, ...] = ()) -> None:
        self.fd = fd
        self._path = path
        self._parts = parts  # (below ``path``: joined only when a message needs the path)

    @property
    def path(self) -> Path:
        """The folder's path (for messages)."""
        if self._parts:
            self._path, self._parts = self._path.joinpath(*self._parts), ()
        return self._path

    @classmethod
    def open(cls, path: Path, below: Path, *, create: bool = False) -> Dir | None:
        """Open ``path``, which lies below the trusted folder ``below``.

        ``below`` is opened as any path is (the user's folders may be links);
        every component after it is opened with ``O_NOFOLLOW`` and, if
        ``create``, made when missing.

        Returns:
            The folder, or None when it (or ``below``) does not exist and
            ``create`` is false.

        Raises:
            OSError: when a component is a link or not a folder
                (``NotRegular``), or the file system refuses.
        """
        return cls.open_below(below, path.relative_to(below).parts, create=create)

    @classmethod
    def open_below(cls, below: Path, parts: tuple[str, ...], *, create: bool = False) -> Dir | None:
        """``open`` of the folder ``below/parts[0]/parts[1]/...``."""
        if parts:
            held, found = HELD.open(cls, below, parts, create)
            if held:
                return found
        if create:
            make_dirs(below)
        try:
            fd = os.open(below, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        folder = cls(fd, below)
        try:
            for n, part in enumerate(parts):
                nxt = folder.sub(part, create=create)
                folder.close()
                if nxt is None:
                    return None
                if n == 0:
                    HELD.hold(below, part, nxt.fd)
                folder = nxt
        except BaseException:
            folder.close()
            raise
        return folder

    def __enter__(self) -> Dir:
        return self

    def __del__(self) -> None:
        self.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def sub(self, name: str, *, create: bool = False) -> Dir | None:
        """The folder ``name`` inside this one (None when missing and not ``create``).

        Raises:
            NotRegular: when ``name`` is a link or not a folder.
            OSError: when the file system refuses.
        """
        for _ in range(3):
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(name, DIR_MODE, dir_fd=self.fd)
                except FileExistsError:
                    pass  # made by another process meanwhile
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    mode = self._lmode(name)
                    raise _refuse(self.path / name, _kind(mode)) from None
                raise
            return Dir(fd, self._path, (*self._parts, name))
        raise OSError(errno.EAGAIN, f"cannot open {self.path / name}")

    def _lmode(self, name: str) -> int:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode
        except OSError:
            return 0

    # ---------------------------------------------------------------- reading

    def open_read(self, name: str) -> int | None:
        """Open a regular file for reading; None when it does not exist.

        Raises:
            NotRegular: for a link, FIFO, device or folder.
            OSError: when the file system refuses.
        """
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise _refuse(self.path / name, _kind(self._lmode(name))) from None
            raise
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise _refuse(self.path / name, _kind(mode))
        return fd

    def read(self, name: str, limit: int = READ_LIMIT) -> bytes | None:
        """The bytes of a regular file, or None when it does not exist.

        Raises:
            NotRegular: for anything but a regular file, or one over ``limit`` bytes.
            OSError: when the file system refuses.
        """
        fd = self.open_read(name)
        if fd is None:
            return None
        try:
            return read_fd(fd, limit, self.path / name)
        finally:
            os.close(fd)

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry's own stat (a link is not followed); None when missing."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def entries(self) -> Iterator[os.DirEntry[str]]:
        """The folder's entries (names starting with ``.`` included)."""
        with os.scandir(self.fd) as found:
            yield from found

    def names(self) -> list[str]:
        """The names in the folder."""
        return os.listdir(self.fd)  # noqa: PTH208 (a descriptor, not a path)

    # ---------------------------------------------------------------- writing

    def write_atomic(self, name: str, data: bytes, mode: int = FILE_MODE) -> os.stat_result:
        """Replace ``name`` with ``data`` at once (temp file + rename; not fsynced).

        Whatever ``name`` was -- a file, a link -- is replaced, never written
        through. Returns the new file's stat.

        Raises:
            OSError: when the folder refuses (the temp file is removed).
        """
        tmp = self._temp(name, data, mode)
        try:
            os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError:
            self.unlink(tmp)
            raise
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def publish(self, name: str, data: bytes, mode: int = FILE_MODE) -> bool:
        """Create ``name`` holding ``data`` only if no entry of that name exists.

        The file appears whole or not at all (``link`` of a complete temp
        file), and of several processes publishing one name exactly one
        succeeds. Returns False when the name was taken.

        Raises:
            OSError: when the folder refuses.
        """
        tmp = self._temp(name, data, mode)
        try:
            os.link(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
        except FileExistsError:
            return False
        finally:
            self.unlink(tmp)
        return True

    def _temp(self, name: str, data: bytes, mode: int) -> str:
        tmp = f".{name[:80]}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, mode, dir_fd=self.fd)
        try:
            write_all(fd, data)
        except OSError:
            os.close(fd)
            self.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def unlink(self, name: str) -> bool:
        """Remove the entry ``name`` (a link itself, never its target); False if missing."""
        try:
            return self._gone(os.unlink, name)
        except IsADirectoryError:
            raise _refuse(self.path / name, "a folder") from None

    def mkdir(self, name: str) -> bool:
        """Create the folder ``name``; False when an entry of that name exists."""
        try:
            os.mkdir(name, DIR_MODE, dir_fd=self.fd)
        except FileExistsError:
            return False
        return True

    def rmdir(self, name: str) -> bool:
        """Remove the empty folder ``name``; False when it is gone already."""
        return self._gone(os.rmdir, name)

    def _gone(self, remove: Callable[..., None], name: str) -> bool:
        try:
            remove(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def open_append(self, name: str) -> int:
        """Open (creating) a regular file for appending; the caller closes the descriptor.

        Raises:
            NotRegular: for a link, FIFO or anything but a regular file.
            OSError: when the folder refuses.
        """
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(name, flags | os.O_CLOEXEC, FILE_MODE, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise _refuse(self.path / name, _kind(self._lmode(name))) from None
            raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise _refuse(self.path / name, _kind(mode))
        return fd

    def sync(self) -> None:
        """Make the folder's entries durable (fsync of the folder)."""
        os.fsync(self.fd)


def read_fd(fd: int, limit: int, path: Path | str) -> bytes:
    """Read a whole file from an open descriptor, refusing one over ``limit`` bytes.

    Raises:
        NotRegular: when the file holds more than ``limit`` bytes.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise NotRegular(errno.EFBIG, f"{path} is larger than {limit:,} bytes")
        chunks.append(chunk)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (looping on short writes)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def make_dirs(path: Path) -> None:
    """Create a user-level folder and its missing parents (the home, the data root).

    Raises:
        OSError: when a folder cannot be created.
    """
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


#: the coarsest timestamp granularity ``probe_grain`` reports (FAT's 2 s)
MAX_GRAIN_NS = 2_000_000_000


def probe_grain(folder: Dir) -> int:
    """How far apart two changes of a folder must be for its mtime to tell them apart (ns).

    Changes a scratch entry of ``folder`` (the data root's own ``view/``, on
    the file system of the home beside it) until its mtime moves: on a file
    system with fine timestamps that is the next change, on one that stamps
    per clock tick (or per second) it takes that long.
    """
    worst = 0
    for _ in range(3):
        folder.write_atomic(".grain", b"")
        before = os.fstat(folder.fd).st_mtime_ns
        start = time.monotonic_ns()
        while True:
            folder.write_atomic(".grain", b"")
            elapsed = time.monotonic_ns() - start
            if os.fstat(folder.fd).st_mtime_ns != before or elapsed > MAX_GRAIN_NS:
                break
        worst = max(worst, elapsed)
    folder.unlink(".grain")
    return min(worst, MAX_GRAIN_NS)
