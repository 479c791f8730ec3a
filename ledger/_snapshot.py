"""The derived cache: snapshots of the replay, so no command replays every log.

::

    <data>/<list>/cache/
      head.json                  what the snapshot covers, and which files hold it
      rows.<token>.json          rows in creation order: a base segment, then deltas
      edges.<token>.json         every task's edge registers, and the edges derived from them
      shards/<xx>.<token>.bin    the pycrdt state of shard xx
      shards/<xx>.<token>.json   the resolved tasks of shard xx, and the clocks it declares

``head.json`` names, for every log, the inode, size and mtime it covers and
where the replay stopped (byte offset, line, digest of the line before), the
replay's progress per writer, and the files below. Every other file is
immutable: a new version is written under a new token (for a shard, the
checksums of its two files, which a reader checks), then a new head pointing
at it replaces the old one with one rename. A reader that read a head reads a
consistent set of files, whatever other processes write meanwhile; two
writers racing leave the head of whichever renamed last, which is consistent
too. One write of a shard rewrites only that shard's files and appends a
rows delta holding the rows that changed; the rows are compacted into one
segment again once deltas pile up.

Everything here is derived: a missing, corrupt or foreign-version file makes
the reader drop the snapshot and replay the logs (``CacheBroken``). Files no
head points at are removed after a grace period.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _json
from ._cache_format import (
    Head,
    LogMark,
    Partials,
    gc_paused,
    head_in,
    key_in,
    rows_in,
    rows_out,
)
from ._datatype import datatype
from ._errors import CacheBroken
from ._fs import Dir
from ._shard_file import shard_file_in, shard_file_out
from ._state import Edges, RawEdges, Row

if TYPE_CHECKING:  # a read answered from the rows never loads the model
    from ._model import Partial

HEAD = "head.json"
COLLECTED = ".collected"  # touched by whoever last collected (its mtime: when)
GRACE_S = 120.0  # unreferenced files younger than this may still be read by someone
#: rows in deltas before the rows are written as one segment again: at least this
#: many, and at least one in ``COMPACT_SHARE`` of the list (a compaction rewrites
#: every row, so on a big list it waits for proportionally more deltas)
COMPACT_AT = 512
COMPACT_SHARE = 8
MAX_SEGMENTS = 16  # or this many deltas (each one more small file for a reader to open)
SHARDS_KEPT = 8  # shards' decoded tasks a Snapshot keeps (the oldest read is dropped first)


@datatype
class Base:
    """What a snapshot gives a replayer to start from.

    Attributes:
        logs: per log, where the snapshot stopped.
        writers: per writer, the highest seq accepted and its record's HLC.
        heads: per log, (name, seq, digest) of its last record.
        pending: records held back behind gaps, as (file, line, bytes).
        rejected: refs of records none of whose updates pycrdt took.
        rows: every task's row by id, in creation order (shared: copy to change).
        edges: every task's edge registers.
        derived: the edges derived from them.
        aliases: task id -> its number in this machine's Claude Code folder.
        unviewed: tasks whose files may not be in line with what the snapshot covers.
        snapshot: a shard's pycrdt state (None: the shard is empty).
        declared: a shard's clocks as its records declare them.
        tasks: a shard's resolved tasks.
    """

    logs: dict[str, LogMark]
    writers: dict[str, tuple[int, int, int]]
    heads: list[tuple[str, int, str]]
    pending: list[tuple[str, int, bytes]]
    rejected: set[str]
    rows: dict[str, Row]
    edges: RawEdges
    derived: Edges
    aliases: dict[str, str]
    unviewed: list[str]
    snapshot: Callable[[str], bytes | None]
    declared: Callable[[str], dict[int, int]]
    tasks: Callable[[str], Partials]


# --------------------------------------------------------------------- files


class Snapshot:
    """The cache folder of one list.

    Args:
        folder: the open cache folder.
    """

    def __init__(self, folder: Dir) -> None:
        self.folder = folder
        self._shards: Dir | None = None
        # the last rows and edges read, by their tokens (files never change under a token)
        self._rows: tuple[tuple[str, ...], dict[str, Row]] | None = None
        self._edges: tuple[str, tuple[RawEdges, Edges]] | None = None
        #: the last shards' tasks read, by shard and token (each task decoded once
        #: per process: an update's read, its writer's base and its new state share them)
        self._tasks: dict[tuple[str, str], tuple[Partials, dict[int, int]]] = {}

    def shard_dir(self, create: bool) -> Dir:
        if self._shards is None:
            found = self.folder.sub("shards", create=create)
            if found is None:
                raise CacheBroken("no shards folder")
            self._shards = found
        return self._shards

    def close(self) -> None:
        """Close the folders."""
        if self._shards is not None:
            self._shards.close()
            self._shards = None
        self.folder.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read_json(self, folder: Dir, name: str) -> Any:
        try:
            data = folder.read(name)
            if data is None:
                raise CacheBroken(f"{name} is missing")
            return _json.loads(data, depth=None)
        except (OSError, ValueError) as exc:
            raise CacheBroken(f"{name}: {exc}") from exc

    # -- head

    def read_head(self) -> Head | None:
        """The current head; None when missing, corrupt or of another version."""
        try:
            return head_in(self._read_json(self.folder, HEAD))
        except CacheBroken:
            return None

    def write_head(self, head: Head) -> bool:
        """Replace the head atomically; False when the folder refuses."""
        return self._put(self.folder, HEAD, _json.dumps_bytes(head.to_json()))

    def head_age_s(self) -> float | None:
        """Seconds since any process last replaced the head (None: there is none)."""
        try:
            st = self.folder.lstat(HEAD)
        except OSError:
            return None
        return None if st is None else time.time() - st.st_mtime

    def drop(self) -> None:
        """Remove the head: the next reader rebuilds from the logs."""
        try:
            self.folder.unlink(HEAD)
        except OSError:
            pass

    def _put(self, folder: Dir, name: str, data: bytes) -> bool:
        try:
            folder.write_atomic(name, data)
        except OSError:
            return False
        return True

    # -- rows and edges

    def put_rows(self, rows: Iterable[Row]) -> str | None:
        """Write one rows segment; return its token."""
        token = os.urandom(6).hex()
        data = _json.dumps_bytes({"columns": rows_out(rows)})
        return token if self._put(self.folder, f"rows.{token}.json", data) else None

    def rows(self, tokens: list[str]) -> dict[str, Row]:
        """Rows by id in creation order: the first segment, with the later ones applied.

        The same dict is handed to every caller for the same tokens: copy it
        before changing it.

        Raises:
            CacheBroken: when a segment is missing or malformed.
        """
        if self._rows is not None and self._rows[0] == tuple(tokens):
            return self._rows[1]
        with gc_paused():  # (100k rows are 1.3M acyclic objects: a collection would walk them)
            found = self._read_rows(tokens)
        self._rows = (tuple(tokens), found)
        return found

    def _segment(self, token: str) -> list[Row]:
        raw = self._read_json(self.folder, f"rows.{token}.json")
        try:
            return rows_in(raw["columns"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheBroken(f"rows {token}: {exc}") from exc

    def _read_rows(self, tokens: list[str]) -> dict[str, Row]:
        if not tokens:
            return {}
        first = self._segment(tokens[0])  # (already in creation order)
        out = {row.id: row for row in first}
        if len(out) != len(first):
            raise CacheBroken(f"rows {tokens[0]}: a task twice")
        last = first[-1].created if first else None
        reorder = False
        for token in tokens[1:]:
            for row in self._segment(token):
                if row.id not in out:
                    if last is not None and row.created < last:
                        reorder = True
                    last = row.created
                out[row.id] = row
        if reorder:
            out = {r.id: r for r in sorted(out.values(), key=lambda r: (r.created, r.id))}
        return out

    def put_edges(self, raw: RawEdges, derived: Edges) -> str | None:
        """Write the edges file; return its token."""
        token = os.urandom(6).hex()
        body = {
            "raw": {b: [[k, on, *key] for k, (on, key) in regs.items()] for b, regs in raw.items()},
            "blocks": derived.blocks,
            "blockedBy": derived.blocked_by,
            "ignored": [list(e) for e in derived.ignored],
        }
        data = _json.dumps_bytes(body)
        return token if self._put(self.folder, f"edges.{token}.json", data) else None

    def edges(self, token: str, known: Mapping[str, Row]) -> tuple[RawEdges, Edges]:
        """Edge registers and the edges derived from them.

        Raises:
            CacheBroken: when missing or malformed, or naming an unknown task.
        """
        if self._edges is not None and self._edges[0] == token:
            return self._edges[1]
        found = self._read_edges(token, known)
        self._edges = (token, found)
        return found

    def _read_edges(self, token: str, known: Mapping[str, Row]) -> tuple[RawEdges, Edges]:
        raw = self._read_json(self.folder, f"edges.{token}.json")
        try:
            registers: RawEdges = {
                str(blocked): {str(k): (on is True, key_in(key)) for k, on, *key in regs}
                for blocked, regs in raw["raw"].items()
            }
            blocks = {str(k): tuple(map(str, v)) for k, v in raw["blocks"].items()}
            blocked_by = {str(k): tuple(map(str, v)) for k, v in raw["blockedBy"].items()}
            ignored = tuple((str(a), str(b)) for a, b in raw["ignored"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CacheBroken(f"edges: {exc}") from exc
        for ident, others in (*blocks.items(), *blocked_by.items()):
            if ident not in known or any(o not in known for o in others):
                raise CacheBroken("an edge names an unknown task")
        return registers, Edges(blocks, blocked_by, ignored)

    # -- shards

    def put_shard(
        self, shard: str, partials: Mapping[str, Partial], declared: Mapping[int, int], doc: bytes
    ) -> tuple[str, int] | None:
        """Write one shard's snapshot and resolved tasks; return their token and size."""
        view = shard_file_out(partials, declared)
        # Named by their checksums: a reader refuses a file whose bytes changed.
        token = f"{zlib.crc32(doc):08x}{zlib.crc32(view):08x}"
        try:
            folder = self.shard_dir(create=True)
        except (OSError, CacheBroken):
            return None
        if self._put(folder, f"{shard}.{token}.bin", doc) and self._put(
            folder, f"{shard}.{token}.json", view
        ):
            return token, len(doc) + len(view)
        return None

    def _shard_file(self, shard: str, token: str, suffix: str, crc: str) -> bytes:
        try:
            data = self.shard_dir(create=False).read(f"{shard}.{token}.{suffix}")
        except OSError as exc:
            raise CacheBroken(f"shard {shard}: {exc}") from exc
        if data is None or f"{zlib.crc32(data):08x}" != crc:
            raise CacheBroken(f"shard {shard}'s {suffix} file does not match its checksum")
        return data

    def shard_doc(self, shard: str, token: str) -> bytes:
        """One shard's pycrdt state (raises CacheBroken when missing or damaged)."""
        return self._shard_file(shard, token, "bin", token[:8])

    def shard_tasks(self, shard: str, token: str) -> tuple[Partials, dict[int, int]]:
        """One shard's resolved tasks (each read when asked) and declared clocks.

        The tasks are shared by every caller asking for the same token (its
        file never changes): copy them before changing them.

        Raises:
            CacheBroken: for a missing or damaged file, and (when asked) a malformed task.
        """
        found = self._tasks.get((shard, token))
        if found is None:
            found = self._read_shard_tasks(shard, token)
            if len(self._tasks) >= SHARDS_KEPT:
                del self._tasks[next(iter(self._tasks))]
            self._tasks[shard, token] = found
        return found[0], dict(found[1])

    def _read_shard_tasks(self, shard: str, token: str) -> tuple[Partials, dict[int, int]]:
        return shard_file_in(shard, self._shard_file(shard, token, "json", token[8:]))

    # -- base

    def base(self, head: Head) -> Base:
        """What a replayer (or a reader) needs to start from ``head``.

        Raises:
            CacheBroken: when a file the head names is unusable.
        """
        rows = self.rows(head.rows)
        raw_edges, derived = self.edges(head.edges, rows)
        loaded: dict[str, tuple[Partials, dict[int, int]]] = {}

        def shard(name: str) -> tuple[Partials, dict[int, int]]:
            found = loaded.get(name)
            if found is None:
                token = head.shards.get(name)
                found = (Partials(), {}) if token is None else self.shard_tasks(name, token)
                loaded[name] = found
            return found

        def snapshot(name: str) -> bytes | None:
            token = head.shards.get(name)
            return None if token is None else self.shard_doc(name, token)

        # (the head's progress, then what it names: rows, edges, and each shard on demand)
        return Base(
            head.logs, head.writers, head.heads, head.pending, head.rejected,
            rows, raw_edges, derived, head.aliases, head.unviewed,
            snapshot, lambda name: shard(name)[1], lambda name: shard(name)[0].copy(),
        )  # fmt: skip

    # -- housekeeping
