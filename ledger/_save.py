"""Writing a snapshot (changed shards, a rows segment, a new head) and collecting old files.

Only what changed since the head it replaces is written: the shards the
replayer changed, the rows it changed as one more segment (all rows again
once the segments grow past ``COMPACT_AT`` rows or ``MAX_SEGMENTS`` files),
and the edges when they changed. The head is replaced last, with one rename,
so a reader sees the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from ._cache_format import Head
from ._errors import CacheBroken
from ._snapshot import COLLECTED, COMPACT_AT, GRACE_S, HEAD, MAX_SEGMENTS, Snapshot

if TYPE_CHECKING:
    from ._replay import Replayer


def save_snapshot(
    snapshot: Snapshot, replayer: Replayer, stats: dict[str, os.stat_result], old: Head | None
) -> Head | None:
    """Write what ``replayer`` read since ``old``, and a head; None when the folder refused."""
    shards = replayer.shards
    shards.settle_all()
    tokens = dict(old.shards) if old is not None else {}
    for shard in shards.changed():
        token = snapshot.put_shard(
            shard, shards.settle(shard), shards.declared(shard), shards.encode(shard)
        )
        if token is None:
            return None
        tokens[shard] = token
    index = replayer.index
    deltas = 0 if old is None else old.delta_rows
    if old is None or deltas + len(index.dirty) > COMPACT_AT or len(old.rows) > MAX_SEGMENTS:
        rows_token = snapshot.put_rows(index.ordered().values())
        segments = [] if rows_token is None else [rows_token]
        deltas = 0
    else:
        dirty = index.dirty
        rows = index.rows  # (only the changed rows: work in proportion to the change)
        changed = sorted((rows[i] for i in dirty if i in rows), key=lambda r: (r.created, r.id))
        rows_token = snapshot.put_rows(changed)
        segments = [*old.rows, rows_token] if rows_token is not None else []
        deltas += len(index.dirty)
    edges = old.edges if old is not None and not index.edges_dirty else None
    if edges is None:
        edges = snapshot.put_edges(index.raw_edges, index.edges())
    if rows_token is None or edges is None:
        return None
    head = Head(
        logs=replayer.marks(stats),
        writers=replayer.writer_marks(),
        heads=[(name, *replayer.head(name)) for name in sorted(replayer.cursors)],
        pending=replayer.pending_lines(),
        rejected=set(shards.rejected),
        shards=tokens,
        rows=segments,
        delta_rows=deltas,
        edges=edges,
        aliases=dict(index.aliases),
    )
    if not snapshot.write_head(head):
        return None
    index.dirty.clear()
    index.edges_dirty = False
    shards.saved()
    return head


# ---------------------------------------------------------------- housekeeping


def collect_due(snapshot: Snapshot, every_s: float) -> bool:
    """Whether ``collect`` is due: no process of any kind collected in the last
    ``every_s`` seconds (the mtime of ``.collected`` says when one last did)."""
    try:
        st = snapshot.folder.lstat(COLLECTED)
        if st is not None and 0 <= time.time() - st.st_mtime < every_s:
            return False
        snapshot.folder.write_atomic(COLLECTED, b"")
    except OSError:
        return False
    return True


def head_files(head: Head) -> tuple[list[str], list[str]]:
    """The files a head names: in the cache folder, and in its ``shards`` folder."""
    names = [f"rows.{t}.json" for t in head.rows] + [f"edges.{head.edges}.json"]
    shards = [f"{s}.{t}.{x}" for s, t in head.shards.items() for x in ("json", "bin")]
    return names, shards


def touch(snapshot: Snapshot, head: Head) -> bool:
    """Make every file ``head`` names young again (so no collect removes it for a
    grace period); False when one is gone."""
    names, shards = head_files(head)
    try:
        for folder, listed in ((snapshot.folder, names), (snapshot.shard_dir(False), shards)):
            for name in listed:
                os.utime(name, dir_fd=folder.fd, follow_symlinks=False)
    except (OSError, CacheBroken):
        return False
    return True


def collect(snapshot: Snapshot, head: Head) -> None:
    """Remove files neither ``head`` nor the head on disk points at (after a grace period)."""
    keep = {HEAD, COLLECTED}
    for one in (head, snapshot.read_head()):
        if one is not None:
            names, shards = head_files(one)
            keep.update(names, shards)
    cutoff = time.time() - GRACE_S
    folders = [snapshot.folder]
    try:
        folders.append(snapshot.shard_dir(create=False))
    except (OSError, CacheBroken):
        pass
    for folder in folders:
        try:
            entries = list(folder.entries())
        except OSError:
            continue
        for entry in entries:
            if entry.name in keep or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    folder.unlink(entry.name)
            except OSError:
                continue
