"""The audit trail: every record of every log, in causal (HLC) order.

Reading the trail needs no pycrdt: the records' readable fields say what
each op changed, old -> new as its writer saw it, and which write it saw
(``base``) -- enough to tell a conflict from an ordinary overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ._log import BadRecord, Cursor, LogWarning, Record, parse_record
from ._model import Change, Json, Op, Stamp
from ._paths import scan_logs
from ._presence import Presence
from ._state import Row, State


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


def blame(
    state: State, task_id: str, trail_of_task: Iterable[Record]
) -> list[tuple[str, Json, Stamp]]:
    """For each current field of a task: its value and the write that set it.

    Fields are the task's scalar fields, metadata keys and blockers (from
    the winning writes), the description (its latest edit) and each note.
    """
    task = state.tasks[task_id]
    values: dict[str, Json] = {
        "subject": task.subject,
        "activeForm": task.active_form,
        "status": task.status.value,
        "owner": task.owner,
        "deleted": task.deleted,
        "lease": task.lease.until if task.lease else None,
    }
    meta = task.meta()
    out: list[tuple[str, Json, Stamp]] = []
    for name, stamp in task.provenance:
        if name in values:
            out.append((name, values[name], stamp))
        elif name.startswith("metadata.") and name[9:] in meta:
            out.append((name, meta[name[9:]], stamp))
        elif name.startswith("blockedBy.") and name[10:] in task.blocked_by:
            out.append((name, True, stamp))
    edits = [r for r in trail_of_task if "description" in r.fields]
    if edits and task.description:
        last = edits[-1]
        stamp = Stamp(last.hlc, last.session, last.writer, last.seq, last.hlc.ms)
        out.append(("description", task.description, stamp))
    out += [(f"note {n}", note.text, note.stamp) for n, note in enumerate(task.notes, 1)]
    return out


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as the logs, leases and presence files show it.

    Attributes:
        session: its name.
        ops: how many ops it appended.
        last: its latest op (by HLC), if any.
        holds: live tasks it holds under a live lease now.
        running: its processes that announce themselves and beat now (a
            ``watch``, an MCP server); the session is *live* if there is one.
    """

    session: str
    ops: int
    last: Record | None
    holds: tuple[Row, ...]
    running: tuple[Presence, ...] = ()

    @property
    def live(self) -> bool:
        """True while one of the session's processes is running (by its heartbeat)."""
        return bool(self.running)


def sessions(
    records: Iterable[Record], state: State, running: Iterable[Presence], now_ms: int
) -> list[SessionInfo]:
    """Every session seen in the logs or running now: activity, holdings, liveness."""
    last: dict[str, Record] = {}
    count: dict[str, int] = {}
    for record in records:
        last[record.session] = record
        count[record.session] = count.get(record.session, 0) + 1
    holds: dict[str, list[Row]] = {}
    for row in state.live_rows():
        holder = row.holder(now_ms)
        if holder is not None:
            holds.setdefault(holder, []).append(row)
    live: dict[str, list[Presence]] = {}
    for found in running:
        if found.live(now_ms):
            live.setdefault(found.session, []).append(found)
    return [
        SessionInfo(
            name,
            count.get(name, 0),
            last.get(name),
            tuple(holds.get(name, ())),
            tuple(sorted(live.get(name, ()), key=lambda p: p.started_ms)),
        )
        for name in sorted(set(last) | set(holds) | set(live))
    ]
