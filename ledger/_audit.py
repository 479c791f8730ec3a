"""The audit trail: every record of every log, in causal (HLC) order.

Reading the trail needs no pycrdt: the records' readable fields say what
each op changed, old -> new as its writer saw it, and which write it saw
(``base``) -- enough to tell a conflict from an ordinary overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ._log import BadRecord, Cursor, LogWarning, Record, parse_record, scan_logs
from ._model import Change, Op


@dataclass(frozen=True, slots=True)
class Located:
    """A record and where it was read.

    Attributes:
        record: the parsed record.
        file: the log file name.
        line: its 1-based line number.
    """

    record: Record
    file: str
    line: int


def read_all(logs_dir: Path, warnings: list[LogWarning]) -> Iterator[Located]:
    """Every well-formed record of every log, file by file, in file order.

    Bad lines are skipped with a warning appended to ``warnings``.
    """
    for name in sorted(scan_logs(logs_dir)):
        cursor = Cursor()
        for line in cursor.read(logs_dir / name):
            try:
                yield Located(parse_record(line.data), name, line.number)
            except BadRecord as exc:
                warnings.append(LogWarning(name, line.number, f"{exc}, skipped"))
        if cursor.tail:
            warnings.append(
                LogWarning(name, cursor.line, "torn last line (a writer died mid-append), skipped")
            )


def trail(records: Iterable[Located]) -> list[Record]:
    """Records in HLC order, each op once (copies of a log count once)."""
    seen: dict[tuple[str, int], Record] = {}
    for item in records:
        seen.setdefault((item.record.writer, item.record.seq), item.record)
    return sorted(seen.values(), key=lambda r: r.key)


@dataclass(frozen=True, slots=True)
class Write:
    """One write of one register (a field, a metadata key or an edge) by one op.

    Attributes:
        record: the op's record.
        task: the task the register belongs to (an edge ``A blocks B`` is a
            register of B, whichever end the op named).
        register: ``subject``, ``status``, ``metadata.<key>``, ``blockedBy.<id>``...
        change: old, new and base as the writer saw them.
    """

    record: Record
    task: str
    register: str
    change: Change

    @property
    def ref(self) -> str:
        """``<writer>:<seq>``, as ``base`` refers to writes."""
        return f"{self.record.writer}:{self.record.seq}"


def writes(records: Iterable[Record]) -> Iterator[Write]:
    """Every register write of the records (those with malformed fields are skipped)."""
    for record in records:
        try:
            op = Op.from_readable(record.kind, record.task, record.fields)
        except ValueError:
            continue
        for name, change in op.fields:
            yield Write(record, record.task, name, change)
        for key, change in op.metadata:
            yield Write(record, record.task, f"metadata.{key}", change)
        for blocker, change in op.blocked_by:
            yield Write(record, record.task, f"blockedBy.{blocker}", change)
        for blocked, change in op.blocks:
            yield Write(record, blocked, f"blockedBy.{record.task}", change)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A write whose value lost to a write that had not seen it.

    Attributes:
        task: the task.
        register: the field, metadata key or edge.
        lost: the write whose value is no longer current.
        won: the write it lost to (the next one, in (HLC, session) order).
    """

    task: str
    register: str
    lost: Write
    won: Write


def conflicts(records: Iterable[Record]) -> list[Conflict]:
    """Every same-register write that lost to a concurrent one (SPEC 3.3).

    A write that some later write was based on (``base``) was overwritten by
    someone who saw it: that is an ordinary edit, not a conflict. A write
    that is not the current value and that no write was based on lost to a
    write that had not seen it.

    Returns:
        Conflicts in HLC order of the losing write.
    """
    groups: dict[tuple[str, str], list[Write]] = {}
    for write in writes(records):
        groups.setdefault((write.task, write.register), []).append(write)
    out = []
    for (task, register), group in groups.items():
        group.sort(key=lambda w: w.record.key)
        bases = {w.change.base for w in group}
        for i, write in enumerate(group[:-1]):
            if write.ref not in bases:
                out.append(Conflict(task, register, write, group[i + 1]))
    out.sort(key=lambda c: c.lost.record.key)
    return out
