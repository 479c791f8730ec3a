"""Log records: encoding, the hash chain, appending, and tolerant reading.

A log is a file of UTF-8 JSON lines, one record per line, written by exactly
one writer. The record format is described field by field in docs/format.md.

Appends happen under an exclusive ``flock`` on the log file itself (only the
processes of one session ever contend for it), are a single ``write`` of the
whole line, and are followed by ``fsync`` before the lock is released: a
command that exits 0 has its record on disk. A log whose last line is torn
(its writer died mid-append) is never truncated or rewritten: the next append
first terminates the torn fragment with a marker that can never parse as
JSON, then starts its record on a fresh line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ._errors import StorageError
from ._model import Hlc, Json, OpKind
from ._paths import is_writer_id

FORMAT_VERSION = 1
GENESIS = "0" * 64
#: Appended to a torn fragment before the next record: ends in a character
#: that no JSON document can end with, so the fragment never parses.
TORN_MARK = b" #torn\n"

_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_TASK_RE = re.compile(r"[0-9a-f]{16}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_OP_KINDS = frozenset(k.value for k in OpKind)
_CHUNK = 1 << 22


class BadRecord(ValueError):
    """A line that is not a usable record (internal; readers turn it into a warning)."""


class UnknownVersion(BadRecord):
    """A record of a format version this code does not know."""


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed log record.

    Attributes:
        session: the session that wrote it.
        writer: the writer id (13 hex digits; also its pycrdt client id).
        seq: the writer's sequence number, from 1, contiguous.
        hlc: the hybrid logical clock of the op.
        at: the writer's wall clock, ISO 8601 UTC.
        kind: the op kind (create, update, ...).
        task: the task id the op is about.
        fields: the readable changes (see ``Op.from_readable``).
        updates: shard -> base64 pycrdt update.
        clocks: shard -> the writer's pycrdt clock in that shard after the update.
        prev: sha256 hex of the previous record line of the same log.
    """

    session: str
    writer: str
    seq: int
    hlc: Hlc
    at: str
    kind: str
    task: str
    fields: dict[str, Json]
    updates: dict[str, str]
    clocks: dict[str, int]
    prev: str

    @property
    def key(self) -> tuple[int, int, str, str, int]:
        """Sort key of the audit trail: HLC, then session, writer, seq."""
        return (self.hlc.ms, self.hlc.counter, self.session, self.writer, self.seq)


def encode_record(record: Record) -> bytes:
    """Serialize a record to one JSON line (without the newline)."""
    obj: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "session": record.session,
        "writer": record.writer,
        "seq": record.seq,
        "hlc": record.hlc.to_json(),
        "at": record.at,
        "op": record.kind,
        "task": record.task,
        "fields": record.fields,
        "updates": record.updates,
        "clocks": record.clocks,
        "prev": record.prev,
    }
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def unicode_ok(raw: bytes | str, parsed: object) -> bool:
    """False when JSON text decoded to a string that is not valid Unicode.

    A ``\\ud800`` escape without its pair is valid JSON but cannot be written
    out as UTF-8; letting it in would make every later print or file write
    of the list fail. Only texts with such an escape need the full check.
    """
    probe = raw.lower() if isinstance(raw, str) else raw.lower().decode("latin-1")
    if "\\ud" not in probe:
        return True
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def digest(line: bytes) -> str:
    """The hash-chain digest of a record line (without its newline)."""
    return hashlib.sha256(line).hexdigest()


_decode_json = json.JSONDecoder().decode
_MAX_HLC_MS = 1 << 53
_MAX_COUNTER = 1 << 32


def parse_record(line: bytes) -> Record:
    """Parse one line into a record.

    Replay spends much of its time here, so the checks are written for
    speed; every one of them still runs on every line.

    Raises:
        BadRecord: when the line is not JSON or not a well-formed record.
        UnknownVersion: when the record's format version is unknown.
    """
    try:
        obj = _decode_json(line.decode())
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRecord("not JSON") from exc
    if type(obj) is not dict:
        raise BadRecord("not a JSON object")
    if b"\\u" in line and not unicode_ok(line, obj):
        raise BadRecord("invalid Unicode (an unpaired surrogate escape)")
    version = obj.get("v")
    if version != FORMAT_VERSION or type(version) is not int:
        raise UnknownVersion(f"unknown format version {version!r}"[:80])
    try:
        session = obj["session"]
        writer = obj["writer"]
        seq = obj["seq"]
        hlc = obj["hlc"]
        at = obj["at"]
        kind = obj["op"]
        task = obj["task"]
        fields = obj["fields"]
        updates = obj["updates"]
        clocks = obj["clocks"]
        prev = obj["prev"]
    except KeyError as exc:
        raise BadRecord(f"missing field {exc.args[0]!r}") from exc
    if type(session) is not str or not 0 < len(session) <= 64:
        raise BadRecord("bad session")
    if type(writer) is not str or not is_writer_id(writer):
        raise BadRecord("bad writer id")
    if type(seq) is not int or seq < 1:
        raise BadRecord("bad seq")
    if (
        type(hlc) is not list
        or len(hlc) != 2
        or type(hlc[0]) is not int
        or type(hlc[1]) is not int
        or not 0 <= hlc[0] < _MAX_HLC_MS
        or not 0 <= hlc[1] < _MAX_COUNTER
    ):
        raise BadRecord("bad hlc")
    if type(at) is not str:
        raise BadRecord("bad wall time")
    if type(kind) is not str or kind not in _OP_KINDS:
        raise BadRecord(f"unknown op {kind!r}"[:80])
    if type(task) is not str or not _TASK_RE.fullmatch(task):
        raise BadRecord("bad task id")
    if type(fields) is not dict:
        raise BadRecord("bad fields")
    if type(updates) is not dict or not all(
        type(v) is str and _SHARD_RE.fullmatch(k) for k, v in updates.items()
    ):
        raise BadRecord("bad updates")
    if (
        type(clocks) is not dict
        or clocks.keys() != updates.keys()
        or not all(type(v) is int and 0 < v < _MAX_HLC_MS for v in clocks.values())
    ):
        raise BadRecord("bad clocks")
    if type(prev) is not str or not _HEX64_RE.fullmatch(prev):
        raise BadRecord("bad prev hash")
    return Record(
        session, writer, seq, Hlc(hlc[0], hlc[1]), at, kind, task, fields, updates, clocks, prev
    )


@dataclass(frozen=True, slots=True)
class Line:
    """A complete line read from a log.

    Attributes:
        number: 1-based line number in the file.
        offset: byte offset of the line's first byte.
        data: the line's bytes, without the newline.
    """

    number: int
    offset: int
    data: bytes


@dataclass(slots=True)
class Cursor:
    """How far a log has been read: the next byte and the next line number.

    A torn tail (bytes after the last newline) is not consumed: the cursor
    stays before it, so a line still being written is read whole next time.
    ``tail`` is the length of that unconsumed fragment after the last read.
    """

    offset: int = 0
    line: int = 1
    tail: int = 0
    last: bytes | None = None  # the last complete line read (None: none read by this cursor)

    def read(self, path: Path) -> Iterator[Line]:
        """Yield the complete lines after the cursor, advancing it past each.

        Raises:
            StorageError: when the file cannot be read.
        """
        self.tail = 0
        fh = _open_for_read(path)
        if fh is None:
            return
        with fh:
            fh.seek(self.offset)
            pending = b""
            while True:
                try:
                    chunk = fh.read(_CHUNK)
                except OSError as exc:
                    raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
                if not chunk:
                    self.tail = len(pending)
                    return
                buf = pending + chunk if pending else chunk
                start = 0
                while True:
                    end = buf.find(b"\n", start)
                    if end < 0:
                        break
                    line = Line(self.line, self.offset, buf[start:end])
                    self.offset += end + 1 - start
                    self.line += 1
                    self.last = line.data
                    start = end + 1
                    yield line
                pending = buf[start:]


def line_before(path: Path, offset: int) -> bytes | None:
    """The complete line that ends just before ``offset`` (without its newline).

    None when the file is shorter, or the byte before ``offset`` is not a
    newline -- the file is not what a reader that stopped there saw.
    """
    if offset <= 0:
        return b""
    try:
        with open(path, "rb") as fh:
            chunk = 1 << 16
            while True:
                start = max(0, offset - chunk)
                fh.seek(start)
                data = fh.read(offset - start)
                if len(data) != offset - start or not data.endswith(b"\n"):
                    return None
                cut = data.rfind(b"\n", 0, len(data) - 1)
                if cut >= 0:
                    return data[cut + 1 : -1]
                if start == 0:
                    return data[:-1]
                chunk *= 4
    except OSError:
        return None


def _open_for_read(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc


@dataclass(frozen=True, slots=True)
class LogWarning:
    """A problem found while reading a log; the line was skipped.

    Attributes:
        file: the log file name.
        line: the 1-based line number (0 when it concerns the whole log).
        problem: what is wrong.
        kind: ``line`` (an unusable line), ``torn`` (a crash's remains),
            ``update`` (pycrdt refused the update), ``clock`` (a shard
            could not integrate every update its logs declare) or ``gap``
            (a writer's records wait behind a missing one).
    """

    file: str
    line: int
    problem: str
    kind: str = "line"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.problem}" if where else self.problem


class Appender:
    """Exclusive, durable appends to one writer's own log.

    Use as a context manager: entering takes the ``flock`` (waiting for other
    processes of the same session), leaving releases it. Records appended
    inside are on disk before the lock is released.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> Appender:
        try:
            make_dirs(self.path.parent)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if os.fstat(self._fd).st_size == 0:
                # possibly just created (by us or a process of our session):
                # make its directory entry durable before anything counts on it
                _fsync_dir(self.path.parent)
        except OSError as exc:
            self._close()
            raise StorageError(f"cannot open log {self.path}: {exc.strerror}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the flock
            self._fd = -1

    def append(self, line: bytes) -> None:
        """Append one record line (without newline) and fsync it.

        Raises:
            StorageError: when the write or fsync fails (the record may then be
                a torn line, which readers skip and the next append terminates).
        """
        self.append_unsynced(line)
        self.sync()

    def append_unsynced(self, line: bytes) -> None:
        """Append one record line without waiting for the disk (bulk loads; call ``sync``).

        Raises:
            StorageError: when the write fails.
        """
        try:
            size = os.fstat(self._fd).st_size
            data = line + b"\n"
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                data = TORN_MARK + data
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise StorageError(f"cannot append to {self.path}: {exc.strerror}") from exc

    def sync(self) -> None:
        """Wait until everything appended is on disk.

        Raises:
            StorageError: when fsync fails.
        """
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise StorageError(f"cannot sync {self.path}: {exc.strerror}") from exc


def make_dirs(path: Path) -> None:
    """Create a folder and its missing parents, durably (each new entry is fsynced).

    Raises:
        OSError: when a folder cannot be created.
    """
    if path.is_dir():
        return
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for made in reversed(missing):
        _fsync_dir(made.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
