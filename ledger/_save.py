"""Writing a snapshot of what a replayer read: changed shards, a rows segment, a new head.

Only what changed since the head it replaces is written: the shards the
replayer changed, the rows it changed as one more segment (all rows again
once the segments grow past ``COMPACT_AT`` rows or ``MAX_SEGMENTS`` files),
and the edges when they changed. The head is replaced last, with one rename,
so a reader sees the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._cache_format import Head
from ._snapshot import COMPACT_AT, MAX_SEGMENTS, Snapshot

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
