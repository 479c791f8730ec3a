"""Replica exchange: receive any subset of records, in any order, any number of times.

Copying whole log files between replicas works, but a transport that hands
over records -- a sync, a mail queue, a hypothesis test -- delivers
arbitrary subsets, reordered and duplicated. ``receive`` files each record
into the local copy of its writer's log only when it extends that copy
exactly: the next sequence number, linked by hash to the copy's last record.
Records that arrive early wait in ``inbox/<writer>.jsonl`` until the gap
before them is filled; records already present are dropped. So every local
copy of a log stays a prefix of the original -- ``verify`` finds nothing to
complain about -- and the replica's state converges to the sender's once
everything has arrived.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ._append import Appender
from ._datatype import datatype, field
from ._errors import BadRecord, StorageError
from ._fs import Dir
from ._ids import log_name
from ._layout import Layout, scan_logs
from ._log import GENESIS, Cursor, LogWarning, Record, classify, digest, parse_record

_TAIL = 1 << 16


@datatype
class Received:
    """What one ``receive`` did.

    Attributes:
        appended: records filed into local log copies.
        duplicates: records already present (dropped).
        waiting: records waiting in the inbox for an earlier one.
        rejected: lines that are not records, or contradict a record present.
    """

    appended: int = 0
    duplicates: int = 0
    waiting: int = 0
    rejected: list[str] = field(default_factory=list)


def outgoing(layout: Layout) -> Iterator[bytes]:
    """Every record line this replica holds, log by log (what it can send)."""
    folder = layout.open("logs")
    if folder is None:
        return
    with folder:
        for name in sorted(scan_logs(folder)):
            for line in Cursor().read(folder, name):
                if type(classify(name, line)) is not LogWarning:
                    yield line.data


def last_record(folder: Dir, name: str) -> tuple[int, str]:
    """The (seq, digest) of a log's last well-formed record; (0, genesis) if none.

    Raises:
        StorageError: when the log cannot be read.
    """
    try:
        fd = folder.open_read(name)
    except OSError as exc:
        raise StorageError(f"cannot read {folder.path / name}: {exc.strerror}") from exc
    if fd is None:
        return 0, GENESIS
    try:
        size = os.fstat(fd).st_size
        chunk = _TAIL
        while True:
            start = max(0, size - chunk)
            lines = os.pread(fd, size - start, start).split(b"\n")
            if start > 0:
                lines = lines[1:]  # maybe cut in the middle
            for line in reversed(lines):
                try:
                    record = parse_record(line)
                except BadRecord:
                    continue
                return record.seq, digest(line)
            if start == 0:
                return 0, GENESIS
            chunk *= 4
    finally:
        os.close(fd)


def receive(layout: Layout, lines: Iterable[bytes], own_writer: str | None = None) -> Received:
    """File received record lines into the local copies of their writers' logs.

    Args:
        layout: the receiving list.
        lines: record lines (without newlines), in any order, duplicates allowed.
        own_writer: this replica's own writer for the session, whose log only
            its own appends may extend.

    Returns:
        What was filed, dropped, held back or rejected.

    Raises:
        StorageError: when the logs cannot be written.
    """
    out = Received()
    incoming: dict[str, dict[int, tuple[Record, bytes]]] = {}
    for line in lines:
        data = line.rstrip(b"\n")
        try:
            record = parse_record(data)
        except BadRecord as exc:
            out.rejected.append(f"{exc}")
            continue
        if record.writer == own_writer:
            out.duplicates += 1
            continue
        incoming.setdefault(record.writer, {}).setdefault(record.seq, (record, data))
    if not incoming:
        return out
    logs = layout.open("logs", create=True)
    inbox = layout.open("inbox", create=True)
    assert logs is not None and inbox is not None
    with logs, inbox:
        for writer in sorted(incoming):
            _file(logs, inbox, writer, incoming[writer], out)
    return out


def _file(
    logs: Dir, inbox: Dir, writer: str, records: dict[int, tuple[Record, bytes]], out: Received
) -> None:
    waiting = f"{writer}.jsonl"
    for line in Cursor().read(inbox, waiting):
        try:
            record = parse_record(line.data)
        except BadRecord:
            continue
        records.setdefault(record.seq, (record, line.data))
    session = next(iter(records.values()))[0].session
    name = log_name(session, writer)
    with Appender(logs, name) as appender:
        seq, head = last_record(logs, name)
        for number in sorted(records):
            record, data = records[number]
            if number <= seq:
                out.duplicates += 1
                continue
            if number != seq + 1:
                break
            if record.prev != head or record.session != session:
                out.rejected.append(f"writer {writer} seq {number} does not extend its log")
                break
            appender.append_unsynced(data)
            seq, head = number, digest(data)
            out.appended += 1
        appender.sync()
        # still under the log's lock: another receiver of this writer waits for it
        later = [records[n][1] for n in sorted(records) if n > seq]
        out.waiting += len(later)
        try:
            if later:
                inbox.write_atomic(waiting, b"".join(line + b"\n" for line in later))
            else:
                inbox.unlink(waiting)
        except OSError as exc:
            raise StorageError(f"cannot write the inbox in {inbox.path}: {exc.strerror}") from exc
