"""The derived view: resolved tasks plus the log positions they cover.

A command whose logs have not changed since the view was written answers
from the view alone, without importing pycrdt or reading any log. Freshness
is decided by the log files' (inode, size, mtime): logs are append-only, so
any new record changes the size. The view is derived: deleting it loses
nothing, a corrupt or foreign-version view is ignored, and concurrent
writers replace it atomically (temp file + rename); a view that lost such a
race is simply stale and gets rebuilt.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._log import make_dirs
from ._model import Hlc, Lease, Note, Stamp, Status, Task
from ._state import State, is_task_id

VIEW_VERSION = 2
VIEW_FILE = "view.json"

LogStats = dict[str, list[int]]  # name -> [inode, size, mtime_ns]
FileStats = dict[str, list[int]]  # task id -> [size, mtime_ns] of its materialized file


def _stamp_out(s: Stamp | None) -> list[Any] | None:
    if s is None:
        return None
    return [s.hlc.ms, s.hlc.counter, s.session, s.writer, s.seq, s.wall_ms]


def _stamp_in(raw: list[Any] | None) -> Stamp | None:
    if raw is None:
        return None
    ms, counter, session, writer, seq, wall = raw
    return Stamp(Hlc(ms, counter), session, writer, seq, wall)


def _task_out(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "s": t.subject,
        "d": t.description,
        "a": t.active_form,
        "st": t.status.value,
        "o": t.owner,
        "bk": list(t.blocks),
        "bb": list(t.blocked_by),
        "m": [[k, v] for k, v in t.metadata],
        "n": [[n.text, _stamp_out(n.stamp)] for n in t.notes],
        "x": t.deleted,
        "c": _stamp_out(t.created),
        "u": _stamp_out(t.updated),
        "p": [[k, _stamp_out(s)] for k, s in t.provenance],
        "l": None if t.lease is None else [t.lease.until_ms, _stamp_out(t.lease.stamp)],
    }


def _task_in(raw: dict[str, Any]) -> Task:
    return Task(
        id=raw["id"],
        subject=raw["s"],
        description=raw["d"],
        active_form=raw["a"],
        status=Status(raw["st"]),
        owner=raw["o"],
        blocks=tuple(raw["bk"]),
        blocked_by=tuple(raw["bb"]),
        metadata=tuple((k, v) for k, v in raw["m"]),
        notes=tuple(Note(text, _stamp_in(s)) for text, s in raw["n"]),  # type: ignore[arg-type]
        deleted=raw["x"],
        created=_stamp_in(raw["c"]),
        updated=_stamp_in(raw["u"]),
        provenance=tuple((k, _stamp_in(s)) for k, s in raw["p"]),  # type: ignore[misc]
        lease=_lease_in(raw["l"]),
    )


def _lease_in(raw: list[Any] | None) -> Lease | None:
    if raw is None:
        return None
    stamp = _stamp_in(raw[1])
    assert stamp is not None
    return Lease(stamp.session, raw[0], stamp)


@dataclass(slots=True)
class View:
    """A saved state and what it covers.

    Attributes:
        logs: per log file, the [inode, size, mtime_ns] the state covers.
        max_hlc: the greatest HLC among the records read.
        state: the resolved tasks.
        files: per live task, the [size, mtime_ns] of its materialized file
            as last written.
        folder_mtime: the list folder's mtime after the last materialization.
    """

    logs: LogStats
    max_hlc: Hlc
    state: State
    files: FileStats = field(default_factory=dict)
    folder_mtime: int = -1

    def fresh(self, stats: Mapping[str, os.stat_result]) -> bool:
        """Tell whether the view covers exactly the logs as they are now."""
        if stats.keys() != self.logs.keys():
            return False
        for name, st in stats.items():
            if self.logs[name] != [st.st_ino, st.st_size, st.st_mtime_ns]:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """Serialize the view."""
        return {
            "v": VIEW_VERSION,
            "logs": self.logs,
            "max_hlc": self.max_hlc.to_json(),
            "tasks": [_task_out(t) for t in self.state.tasks.values()],
            "ignored": [list(e) for e in self.state.ignored_edges],
            "files": self.files,
            "folder_mtime": self.folder_mtime,
        }


def load_view(cache: Path) -> View | None:
    """Read the saved view; None when it is missing, corrupt or of another version."""
    try:
        raw = json.loads((cache / VIEW_FILE).read_bytes())
        if raw.get("v") != VIEW_VERSION:
            return None
        tasks = {t.id: t for t in map(_task_in, raw["tasks"])}
        logs, files = raw["logs"], raw["files"]
        if not (
            _int_lists(logs, 3)
            and _int_lists(files, 2)
            and type(raw["folder_mtime"]) is int
            and all(is_task_id(i) for i in tasks)
            and all(o in tasks for t in tasks.values() for o in (*t.blocks, *t.blocked_by))
        ):
            return None
        return View(
            logs=logs,
            max_hlc=Hlc(*raw["max_hlc"]),
            state=State(tasks, tuple((a, b) for a, b in raw["ignored"])),
            files=files,
            folder_mtime=raw["folder_mtime"],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        return None


def _int_lists(value: object, size: int) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and len(v) == size and all(type(x) is int for x in v)
        for v in value.values()
    )


def save_view(cache: Path, view: View) -> bool:
    """Write the view atomically; False when the folder is not writable."""
    data = json.dumps(view.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
    tmp = cache / f".{VIEW_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        make_dirs(cache)
        tmp.write_bytes(data)
        tmp.replace(cache / VIEW_FILE)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False
    return True
