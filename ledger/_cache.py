"""The derived cache: answers and snapshots, so no command replays every log.

::

    .ledger/cache/
      head.json                   what the cache covers, and which files hold it
      rows.<token>.json           a row per task in creation order, and the derived edges
      aux.<token>.json            every task's edge registers; the task files' stats
      shards/<xx>.<token>.json    the resolved tasks of shard xx
      shards/<xx>.<token>.bin     the pycrdt state of shard xx (a snapshot)

``head.json`` names, for every log, the inode, size and mtime it covers and
where the replayer stopped (byte offset, line, hash-chain head), plus the
replayer's progress per writer. Every other file is immutable: a new
version is written under a new token (random; for a shard, the checksums
of its two files, which a reader checks), then a new head pointing at it
replaces the old one with one rename. A reader that read a head reads a
consistent set of files, whatever other processes write meanwhile; two
writers racing simply leave the head of whichever renamed last, which is
consistent too (and merely older, if it is). A command whose logs match the
head answers from ``rows`` (and a shard file or two) without importing
pycrdt; a command that needs a document loads one shard's snapshot and
reads only the log tails after the head.

Everything here is derived. A missing, corrupt or foreign-version head is
ignored and rebuilt from the logs; a log that shrank or was replaced under
the head's offsets invalidates the whole cache (``verify`` reports it: logs
only ever grow). Files no head points at are removed after a grace period.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._paths import is_task_id
from ._state import Key, RawEdges, Row, RowTable, gc_paused

if TYPE_CHECKING:  # loaded where used: a read answered from the rows needs neither
    from ._model import Stamp, Task

CACHE_VERSION = 5
Ids = tuple[str, ...]
#: rows (creation order), blocks, blockedBy, ignored edges
RowsFile = tuple[RowTable, dict[str, Ids], dict[str, Ids], tuple[tuple[str, str], ...]]
HEAD = "head.json"
_SHARD = re.compile(r"[0-9a-f]{2}")
_SHARD_TOKEN = re.compile(r"[0-9a-f]{16}")  # crc32 of the snapshot, then of the tasks
_TOKEN = re.compile(r"[0-9a-f]{12}")  # random
_GRACE_S = 120.0  # unreferenced files younger than this may still be read by someone


# ---------------------------------------------------------------- tasks <-> JSON


def _stamp_out(s: Stamp | None) -> list[Any] | None:
    if s is None:
        return None
    return [s.hlc.ms, s.hlc.counter, s.session, s.writer, s.seq, s.wall_ms]


def _stamp_in(raw: list[Any] | None) -> Stamp | None:
    from ._model import Hlc, Stamp

    if raw is None:
        return None
    ms, counter, session, writer, seq, wall = raw
    return Stamp(Hlc(ms, counter), session, writer, seq, wall)


def _stamp(raw: list[Any]) -> Stamp:
    stamp = _stamp_in(raw)
    if stamp is None:
        raise ValueError("missing stamp")
    return stamp


def task_out(t: Task) -> dict[str, Any]:
    """A task (without derived edges) as cache JSON."""
    return {
        "id": t.id,
        "s": t.subject,
        "d": t.description,
        "a": t.active_form,
        "st": t.status.value,
        "o": t.owner,
        "m": [[k, v] for k, v in t.metadata],
        "n": [[n.text, _stamp_out(n.stamp)] for n in t.notes],
        "x": t.deleted,
        "c": _stamp_out(t.created),
        "u": _stamp_out(t.updated),
        "p": [[k, _stamp_out(s)] for k, s in t.provenance],
        "l": None if t.lease is None else [t.lease.until_ms, _stamp_out(t.lease.stamp)],
    }


def task_in(raw: dict[str, Any]) -> Task:
    """A task from cache JSON (raises on anything malformed)."""
    from ._model import Lease, Note, Status, Task

    lease = None
    if raw["l"] is not None:
        until, stamp = raw["l"]
        lease = Lease(_stamp(stamp).session, int(until), _stamp(stamp))
    return Task(
        id=raw["id"],
        subject=raw["s"],
        description=raw["d"],
        active_form=raw["a"],
        status=Status(raw["st"]),
        owner=raw["o"],
        metadata=tuple((k, v) for k, v in raw["m"]),
        notes=tuple(Note(text, _stamp(s)) for text, s in raw["n"]),
        deleted=bool(raw["x"]),
        created=_stamp_in(raw["c"]),
        updated=_stamp_in(raw["u"]),
        provenance=tuple((k, _stamp(s)) for k, s in raw["p"]),
        lease=lease,
    )


# ------------------------------------------------------------------------ head


@dataclass(slots=True)
class Head:
    """What the cache covers and where it is.

    Attributes:
        logs: per log, ``[inode, size, mtime_ns, offset, line]``: the file as
            it was, and where the replayer stopped in it (before a torn tail).
        progress: the replayer's state per writer (``Replayer.progress``).
        shards: shard -> token of its files.
        rows: token of the rows file.
        aux: token of the aux file.
        folder_mtime: the list folder's mtime after the last pass over the
            task files (-1: look at the folder next time).
    """

    logs: dict[str, list[int]]
    progress: dict[str, Any]
    shards: dict[str, str]
    rows: str
    aux: str
    folder_mtime: int = -1

    def fresh(self, stats: Mapping[str, os.stat_result]) -> bool:
        """True when the logs are exactly as the head covers them."""
        if stats.keys() != self.logs.keys():
            return False
        for name, st in stats.items():
            mark = self.logs[name]
            if mark[0] != st.st_ino or mark[1] != st.st_size or mark[2] != st.st_mtime_ns:
                return False
        return True

    def broken_logs(self, logs: Path, stats: Mapping[str, os.stat_result]) -> list[str]:
        """Logs changed under the head -- shrunk, replaced, or rewritten before its
        offset -- which invalidates the cache (logs only ever grow)."""
        out = []
        tails = self.progress.get("tails", {})
        for name, mark in self.logs.items():
            st = stats.get(name)
            if st is None or st.st_size < mark[3]:
                out.append(name)
                continue
            if st.st_ino == mark[0] and st.st_size == mark[1]:
                if st.st_mtime_ns == mark[2] or mark[2] == -1:
                    continue  # untouched since
                out.append(name)  # rewritten in place: same size, new mtime
                continue
            from ._log import GENESIS, digest, line_before

            line = line_before(logs / name, mark[3])
            if line is None or (digest(line) if line else GENESIS) != tails.get(name):
                out.append(name)
        return out


# ----------------------------------------------------------------------- files


@dataclass(slots=True)
class Aux:
    """What writers need beyond the rows.

    Attributes:
        edges: every task's edge registers.
        files: per live task, [size, mtime_ns] of its task file as last written.
    """

    edges: RawEdges = field(default_factory=dict)
    files: dict[str, list[int]] = field(default_factory=dict)


class Cache:
    """The cache folder of one list.

    Args:
        folder: ``.ledger/cache``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.shards_folder = folder / "shards"

    # -- head

    def read_head(self) -> Head | None:
        """The current head; None when missing, corrupt or of another version."""
        try:
            raw = json.loads((self.folder / HEAD).read_bytes())
            if not isinstance(raw, dict) or raw.get("v") != CACHE_VERSION:
                return None
            logs = raw["logs"]
            shards = raw["shards"]
            if not (
                isinstance(logs, dict)
                and all(
                    isinstance(v, list) and len(v) == 5 and all(type(x) is int for x in v)
                    for v in logs.values()
                )
                and isinstance(shards, dict)
                and all(
                    isinstance(k, str)
                    and _SHARD.fullmatch(k)
                    and isinstance(v, str)
                    and _SHARD_TOKEN.fullmatch(v)
                    for k, v in shards.items()
                )
                and isinstance(raw["progress"], dict)
                and type(raw["folder_mtime"]) is int
            ):
                return None
            rows, aux = str(raw["rows"]), str(raw["aux"])
            if not (_TOKEN.fullmatch(rows) and _TOKEN.fullmatch(aux)):
                return None
            return Head(logs, raw["progress"], shards, rows, aux, raw["folder_mtime"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None

    def write_head(self, head: Head) -> bool:
        """Replace the head atomically; False when the folder refuses."""
        body = {
            "v": CACHE_VERSION,
            "logs": head.logs,
            "progress": head.progress,
            "shards": head.shards,
            "rows": head.rows,
            "aux": head.aux,
            "folder_mtime": head.folder_mtime,
        }
        return self._replace(self.folder / HEAD, _dump(body))

    # -- immutable files

    def _put(self, folder: Path, prefix: str, suffix: str, data: bytes) -> str | None:
        token = os.urandom(6).hex()
        if self._replace(folder / f"{prefix}{token}{suffix}", data):
            return token
        return None

    def _replace(self, path: Path, data: bytes) -> bool:
        from ._log import make_dirs

        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            make_dirs(path.parent)
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return False
        return True

    def put_shard(self, shard: str, tasks: Mapping[str, Task], snapshot: bytes) -> str | None:
        """Write one shard's tasks and pycrdt snapshot; return their token."""
        view = _dump({"tasks": [task_out(t) for t in tasks.values()]})
        # Named by their checksums: a reader refuses a file whose bytes changed.
        token = f"{zlib.crc32(snapshot):08x}{zlib.crc32(view):08x}"
        folder = self.shards_folder
        if self._replace(folder / f"{shard}.{token}.bin", snapshot) and self._replace(
            folder / f"{shard}.{token}.json", view
        ):
            return token
        return None

    def shard_tasks(self, shard: str, token: str) -> dict[str, Task]:
        """One shard's tasks (without derived edges).

        Raises:
            OSError, ValueError, KeyError, TypeError: when the file is missing
                or malformed (the caller rebuilds).
        """
        data = (self.shards_folder / f"{shard}.{token}.json").read_bytes()
        if f"{zlib.crc32(data):08x}" != token[8:]:
            raise ValueError(f"shard {shard}'s tasks do not match their checksum")
        raw = json.loads(data)
        tasks = {}
        for item in raw["tasks"]:
            task = task_in(item)
            if task.id[:2] != shard or not is_task_id(task.id):
                raise ValueError("task in the wrong shard")
            tasks[task.id] = task
        return tasks

    def shard_snapshot(self, shard: str, token: str) -> bytes:
        """One shard's pycrdt state.

        Raises:
            OSError: when the file is missing.
            ValueError: when its bytes do not match their checksum.
        """
        data = (self.shards_folder / f"{shard}.{token}.bin").read_bytes()
        if f"{zlib.crc32(data):08x}" != token[:8]:
            raise ValueError(f"shard {shard}'s snapshot does not match its checksum")
        return data

    def put_rows(
        self,
        rows: Mapping[str, Row],
        blocks: Mapping[str, tuple[str, ...]],
        blocked_by: Mapping[str, tuple[str, ...]],
        ignored: tuple[tuple[str, str], ...],
    ) -> str | None:
        """Write the rows file; return its token."""
        body = {
            "columns": RowTable.columns_of(rows.values()),  # see ``RowTable``
            "blocks": blocks,
            "blockedBy": blocked_by,
            "ignored": [list(e) for e in ignored],
        }
        return self._put(self.folder, "rows.", ".json", _dump(body))

    def rows(self, token: str) -> RowsFile:
        """Rows (creation order) and derived edges: blocks, blockedBy, ignored.

        Raises:
            OSError, ValueError, KeyError, TypeError: when missing or malformed.
        """
        data = (self.folder / f"rows.{token}.json").read_bytes()
        with gc_paused():
            raw = json.loads(data)
        rows = RowTable(raw["columns"])
        blocks = {k: tuple(v) for k, v in raw["blocks"].items()}
        blocked_by = {k: tuple(v) for k, v in raw["blockedBy"].items()}
        for ident, others in (*blocks.items(), *blocked_by.items()):
            if ident not in rows or any(o not in rows for o in others):
                raise ValueError("an edge names an unknown task")
        return rows, blocks, blocked_by, tuple((a, b) for a, b in raw["ignored"])

    def put_aux(self, aux: Aux) -> str | None:
        """Write the aux file; return its token."""
        edges = {
            blocked: {b: [on, *key] for b, (on, key) in regs.items()}
            for blocked, regs in aux.edges.items()
        }
        return self._put(self.folder, "aux.", ".json", _dump({"edges": edges, "files": aux.files}))

    def aux(self, token: str) -> Aux:
        """Edge registers and file stats.

        Raises:
            OSError, ValueError, KeyError, TypeError: when missing or malformed.
        """
        raw = json.loads((self.folder / f"aux.{token}.json").read_bytes())
        edges: RawEdges = {}
        for blocked, regs in raw["edges"].items():
            edges[blocked] = {}
            for blocker, (on, ms, counter, session, writer) in regs.items():
                key: Key = (int(ms), int(counter), str(session), str(writer))
                edges[blocked][blocker] = (bool(on), key)
        files = raw["files"]
        if not all(isinstance(v, list) and len(v) == 2 for v in files.values()):
            raise ValueError("bad file stats")
        return Aux(edges, files)

    # -- housekeeping

    def collect(self, head: Head) -> None:
        """Remove files no head points at any more (after a grace period)."""
        keep = {f"rows.{head.rows}.json", f"aux.{head.aux}.json"}
        keep |= {f"{s}.{t}.json" for s, t in head.shards.items()}
        keep |= {f"{s}.{t}.bin" for s, t in head.shards.items()}
        cutoff = time.time() - _GRACE_S
        for folder in (self.folder, self.shards_folder):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name in keep or entry.name == HEAD or not entry.is_file():
                    continue
                try:
                    if entry.stat().st_mtime < cutoff:
                        Path(entry.path).unlink()
                except OSError:
                    continue


def _dump(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
