"""Log records: encoding, the hash chain, and the one tolerant reader.

A log is a file of UTF-8 JSON lines, one record per line, written by exactly
one writer. The record format is described field by field in docs/format.md.

Appending is ``_append``'s (flock, fsync, torn tails).

Every reader of logs -- the replayer (and so the state, history, time travel,
sync) and ``verify`` -- reads lines with ``Cursor.read`` and classifies each
with ``classify``, so a damaged line is described the same way everywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import NamedTuple

from . import _json
from ._datatype import datatype
from ._errors import BadRecord, StorageError, UnknownVersion
from ._fs import Dir
from ._hashing import sha256
from ._ids import TASK_ID, is_writer_id
from ._model import MAX_COUNTER, MAX_HLC_MS, Hlc, Json, OpKind

FORMAT_VERSION = 1
GENESIS = "0" * 64
#: Appended to a torn fragment before the next record: ends in a character
#: that no JSON document can end with, so the fragment never parses.
TORN_MARK = b" #torn\n"
_TORN_END = TORN_MARK[:-1]

_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_TASK_RE = re.compile(TASK_ID)
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_OP_KINDS = frozenset(k.value for k in OpKind)
_CHUNK = 1 << 22
# a record's own structure adds this many levels around a metadata value
_RECORD_DEPTH = _json.MAX_DEPTH + 6


class Record(NamedTuple):
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

    @property
    def ref(self) -> str:
        """``<writer>:<seq>``, as ``base`` refers to writes."""
        return f"{self.writer}:{self.seq}"


def encode_record(record: Record) -> bytes:
    """Serialize a record to one JSON line (without the newline).

    Raises:
        ValueError: for a value that is not strict JSON (NaN, Infinity).
    """
    return _json.dumps_bytes(
        {
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
    )


def digest(line: bytes) -> str:
    """The hash-chain digest of a record line (without its newline)."""
    return sha256(line).hexdigest()


def parse_record(line: bytes) -> Record:
    """Parse one line into a record.

    Replay spends much of its time here, so the checks are written for
    speed; every one of them still runs on every line.

    Raises:
        BadRecord: when the line is not strict JSON or not a well-formed record.
        UnknownVersion: when the record's format version is unknown.
    """
    try:
        obj = _json.loads(line, depth=_RECORD_DEPTH)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        message = str(exc)
        reason = message if message.startswith(("invalid Unicode", "nested")) else "not JSON"
        raise BadRecord(reason) from exc
    if type(obj) is not dict:
        raise BadRecord("not a JSON object")
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
        or not 0 <= hlc[0] < MAX_HLC_MS
        or not 0 <= hlc[1] < MAX_COUNTER
    ):
        raise BadRecord("bad hlc")
    if type(at) is not str or len(at) > 64:
        raise BadRecord("bad wall time")
    if type(kind) is not str or kind not in _OP_KINDS:
        raise BadRecord(f"unknown op {kind!r}"[:80])
    if type(task) is not str or not _TASK_RE.fullmatch(task):
        raise BadRecord("bad task id")
    _check_payload(fields, updates, clocks, prev)
    return Record(
        session, writer, seq, Hlc(hlc[0], hlc[1]), at, kind, task, fields, updates, clocks, prev
    )


def _check_payload(fields: object, updates: object, clocks: object, prev: object) -> None:
    """The record's changes, updates, clocks and hash link (raises BadRecord)."""
    if type(fields) is not dict:
        raise BadRecord("bad fields")
    if type(updates) is not dict or not all(
        type(v) is str and _SHARD_RE.fullmatch(k) for k, v in updates.items()
    ):
        raise BadRecord("bad updates")
    if (
        type(clocks) is not dict
        or clocks.keys() != updates.keys()
        or not all(type(v) is int and 0 < v < MAX_HLC_MS for v in clocks.values())
    ):
        raise BadRecord("bad clocks")
    if type(prev) is not str or not _HEX64_RE.fullmatch(prev):
        raise BadRecord("bad prev hash")


class Line(NamedTuple):
    """A complete line read from a log.

    Attributes:
        number: 1-based line number in the file.
        offset: byte offset of the line's first byte.
        data: the line's bytes, without the newline.
    """

    number: int
    offset: int
    data: bytes


@datatype(frozen=True)
class LogWarning:
    """A problem found while reading a log; the line was skipped.

    Attributes:
        file: the log file name.
        line: the 1-based line number (0 when it concerns the whole log).
        problem: what is wrong.
        kind: ``line`` (an unusable line), ``torn`` (a crash's remains),
            ``update`` (pycrdt refused the update), ``clock`` (a shard
            could not integrate every update its logs declare), ``gap``
            (a writer's records wait behind a missing one) or ``file`` (the
            log itself cannot be read).
    """

    file: str
    line: int
    problem: str
    kind: str = "line"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.problem}" if where else self.problem


def classify(name: str, line: Line) -> Record | LogWarning:
    """What one line of a log is: a record, or the warning that skips it."""
    data = line.data
    if not data.strip():
        return LogWarning(name, line.number, "empty line, skipped")
    if data.endswith(_TORN_END):
        return LogWarning(name, line.number, "torn write of a crashed writer, skipped", "torn")
    try:
        return parse_record(data)
    except BadRecord as exc:
        return LogWarning(name, line.number, f"{exc}, skipped")


def torn_tail(name: str, cursor: Cursor) -> LogWarning:
    """The warning for a log whose last line has no newline yet."""
    return LogWarning(
        name, cursor.line, "torn last line (a writer died mid-append), skipped", "torn"
    )


@datatype
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

    def read(self, folder: Dir, name: str) -> Iterator[Line]:
        """Yield the complete lines after the cursor, advancing it past each.

        Raises:
            StorageError: when the file cannot be read (a link, a FIFO, ...).
        """
        self.tail = 0
        try:
            fd = folder.open_read(name)
        except OSError as exc:
            raise StorageError(f"cannot read {folder.path / name}: {reason(exc)}") from exc
        if fd is None:
            return
        try:
            yield from self._lines(fd, folder, name)
        finally:
            os.close(fd)

    def _lines(self, fd: int, folder: Dir, name: str) -> Iterator[Line]:
        pending = b""
        position = self.offset
        while True:
            try:
                chunk = os.pread(fd, _CHUNK, position)
            except OSError as exc:
                raise StorageError(f"cannot read {folder.path / name}: {reason(exc)}") from exc
            if not chunk:
                self.tail = len(pending)
                return
            position += len(chunk)
            buf = pending + chunk if pending else chunk
            start = 0
            while True:
                end = buf.find(b"\n", start)
                if end < 0:
                    break
                data = buf[start:end]
                line = Line(self.line, self.offset, data)
                self.offset += end + 1 - start
                self.line += 1
                self.last = data
                start = end + 1
                yield line
            pending = buf[start:]


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def line_before(folder: Dir, name: str, offset: int) -> bytes | None:
    """The complete line that ends just before ``offset`` (without its newline).

    None when the file is shorter, or the byte before ``offset`` is not a
    newline -- the file is not what a reader that stopped there saw.
    """
    if offset <= 0:
        return b""
    try:
        fd = folder.open_read(name)
    except OSError:
        return None
    if fd is None:
        return None
    try:
        chunk = 1 << 16
        while True:
            start = max(0, offset - chunk)
            data = os.pread(fd, offset - start, start)
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
    finally:
        os.close(fd)
