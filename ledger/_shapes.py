"""The JSON shapes every front end shares: tasks, ops, conflicts, sessions.

``taskledger ... --json``, the MCP server and the board all speak these, so
a task looks the same wherever it is read (documented in docs/cli.md). They
are plain JSON values, exact: no text is cut or escaped here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._timeparse import iso_ms

if TYPE_CHECKING:
    from ._audit import Conflict, Write
    from ._log import Record
    from ._model import Json, Stamp, Task
    from ._sessions import SessionInfo
    from ._state import State


def stamp_json(stamp: Stamp | None) -> Json:
    """A stamp as JSON: ``{at, session, writer, seq, hlc}``."""
    return None if stamp is None else stamp.to_json()


def task_json(task: Task, state: State, now_ms: int) -> dict[str, Json]:
    """A task: Claude Code's fields first, then taskledger's."""
    out: dict[str, Json] = {
        "id": task.id,
        "subject": task.subject,
        "description": task.description,
        "activeForm": task.active_form,
        "status": task.status.value,
        "owner": task.owner,
        "blocks": list(task.blocks),
        "blockedBy": list(task.blocked_by),
        "metadata": task.meta(),
    }
    out["shortId"] = state.short(task.id)
    out["openBlockers"] = list(state.open_blockers(task)) if not task.deleted else []
    out["ready"] = state.is_ready(task, now_ms)
    out["lease"] = lease_json(task, now_ms)
    out["deleted"] = task.deleted
    out["notes"] = [{"text": n.text, **n.stamp.to_json()} for n in task.notes]
    out["created"] = stamp_json(task.created)
    out["updated"] = stamp_json(task.updated)
    out["nativeId"] = state.aliases.get(task.id)
    return out


def lease_json(task: Task, now_ms: int) -> Json:
    """A task's lease: ``{holder, until, live, since}``, or None."""
    lease = task.lease
    if lease is None:
        return None
    return {
        "holder": lease.holder,
        "until": lease.until,
        "live": task.holder(now_ms) is not None,
        "since": lease.stamp.at,
    }


def record_json(record: Record, state: State | None = None) -> dict[str, Json]:
    """An op: the same keys for ``history --json``, ``watch --json`` and ``export``."""
    task = None if state is None else state.tasks.get(record.task)
    return {
        "at": record.at,
        "hlc": record.hlc.to_json(),  # type: ignore[dict-item]
        "session": record.session,
        "writer": record.writer,
        "seq": record.seq,
        "op": record.kind,
        "task": record.task,
        "subject": None if task is None else task.subject,
        "fields": record.fields,
    }


def write_json(write: Write) -> dict[str, Json]:
    """One write of a register, as ``conflicts --json`` shows each side."""
    r = write.record
    return {
        "value": write.change.new,
        "saw": write.change.old,
        "session": r.session,
        "writer": r.writer,
        "seq": r.seq,
        "at": r.at,
        "hlc": r.hlc.to_json(),  # type: ignore[dict-item]
        "op": r.kind,
    }


def conflict_json(conflict: Conflict, state: State) -> dict[str, Json]:
    """A write that lost to a concurrent one, with the write it lost to."""
    task = state.tasks.get(conflict.task)
    return {
        "task": conflict.task,
        "subject": None if task is None else task.subject,
        "field": conflict.register,
        "lost": write_json(conflict.lost),
        "won": write_json(conflict.won),
    }


def session_json(info: SessionInfo, state: State) -> dict[str, Json]:
    """A session: liveness, its processes, activity and holdings."""
    return {
        "session": info.session,
        "live": info.live,
        "running": [
            {
                "kind": p.kind,
                "pid": p.pid,
                "host": p.host,
                "since": iso_ms(p.started_ms),
                "heartbeat": iso_ms(p.heartbeat_ms),
            }
            for p in info.running
        ],
        "ops": info.ops,
        "machines": [
            {"machine": m, "synced": iso_ms(at) if at is not None else None}
            for m, at in info.machines
        ],
        "lastActivity": info.last.at if info.last else None,
        "lastOp": record_json(info.last, state) if info.last else None,
        "holds": [
            {
                "task": t.id,
                "subject": t.subject,
                "until": iso_ms(t.lease_until) if t.lease_until else None,
            }
            for t in info.holds
        ],
    }


def task_file_json(task: Task) -> dict[str, Json]:
    """A task as its Claude Code task file holds it (under its own id)."""
    from ._native import file_task

    return file_task(task, task.id, lambda i: i).to_json()
