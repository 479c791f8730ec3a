"""The audit trail: what each op changed, which writes lost, who set each field.

Reading the trail needs no pycrdt: the records' readable fields say what
each op changed, old -> new as its writer saw it, and which write it saw
(``base``) -- enough to tell a conflict from an ordinary overwrite. The
records come from the replayer (``Reader.trail``), so history never shows
what the state skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, TypedDict, Unpack

from ._datatype import datatype
from ._errors import StorageError
from ._ids import parse_log_name
from ._log import Cursor, LogWarning, Record, classify
from ._model import Change, Json, Op, Stamp
from ._state import State

if TYPE_CHECKING:
    from ._replay import Replayer


def touches(record: Record, task_id: str) -> bool:
    """Whether an op concerns a task: it is about it, or changes an edge that ends at it."""
    if record.task == task_id:
        return True
    fields = record.fields
    for side in ("blocks", "blockedBy"):
        edges = fields.get(side)
        if isinstance(edges, dict) and task_id in edges:
            return True
    return False


class TrailFilter(TypedDict, total=False):
    """Filters of the audit trail: by session, by HLC time, by op kind, the latest N."""

    session: str | None
    since_ms: int | None
    until_ms: int | None
    ops: Sequence[str]
    limit: int | None


def select(
    records: Iterable[Record], task_id: str | None = None, **only: Unpack[TrailFilter]
) -> list[Record]:
    """The records that pass every filter given (by HLC time), oldest first.

    Args:
        records: records in HLC order.
        task_id: only ops that concern this task (``touches``).
        only: ``session``, ``since_ms``, ``until_ms`` (inclusive), ``ops``
            (kinds), ``limit`` (the latest this many).
    """
    session, ops = only.get("session"), only.get("ops") or ()
    since, until = only.get("since_ms"), only.get("until_ms")
    out = [
        r
        for r in records
        if (task_id is None or touches(r, task_id))
        and (session is None or r.session == session)
        and (since is None or r.hlc.ms >= since)
        and (until is None or r.hlc.ms <= until)
        and (not ops or r.kind in ops)
    ]
    limit = only.get("limit")
    if limit is not None:
        out = out[-limit:] if limit > 0 else []
    return out


@datatype(frozen=True)
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


@datatype(frozen=True)
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


def trail(replayer: Replayer) -> list[Record]:
    """Every record a replayer accepted (and pycrdt took), once, in HLC order.

    A record is accepted exactly when its writer's records up to it are, so
    this re-reads the logs up to the replayer's cursors and keeps those: the
    audit trail never shows what the state skipped.
    """
    folder = replayer.open_logs()
    if folder is None:
        return []
    found: dict[tuple[str, int], Record] = {}
    with folder:
        for name, cursor in sorted(replayer.cursors.items()):
            owner = parse_log_name(name)
            try:
                for line in Cursor().read(folder, name):
                    if line.offset >= cursor.offset:
                        break
                    item = classify(name, line)
                    if type(item) is LogWarning:
                        continue
                    record: Record = item  # type: ignore[assignment]
                    if owner != (record.session, record.writer):
                        continue
                    if record.seq > replayer.accept.applied(record.writer):
                        continue
                    if replayer.until_ms is not None and record.hlc.ms > replayer.until_ms:
                        continue
                    found.setdefault((record.writer, record.seq), record)
            except StorageError:
                continue
    rejected = replayer.shards.rejected
    return sorted((r for r in found.values() if r.ref not in rejected), key=lambda r: r.key)
