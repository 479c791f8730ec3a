"""Writing a snapshot (changed shards, a rows segment, a new head) and collecting old files.

Only what changed since the head it replaces is written: the shards the
replayer changed, the rows it changed as one more segment (all rows again
once the segments grow past ``COMPACT_AT`` rows, or one in ``COMPACT_SHARE`` of
the list, or ``MAX_SEGMENTS`` files),
and the edges when they changed. The head is replaced last, with one rename,
so a reader sees the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from ._cache_format import Head
from ._errors import CacheBroken
from ._snapshot import COLLECTED, COMPACT_AT, COMPACT_SHARE, GRACE_S, HEAD, MAX_SEGMENTS, Snapshot

#: a long-lived process's save writes about this many bytes of shard files per call
STAGE_BYTES = 128 * 1024
#: staged shard files older than this are written again (``collect`` spares
#: unreferenced files for ``GRACE_S`` = 120 s)
STAGED_FOR_S = 30.0
COLLECT_EVERY_S = 60.0
SAVING = ".saving"  # names the long-lived process that saves now (``saving``)
SAVING_FOR_S = 5.0
#: a head this old is built on again only while it is still the one on disk (collect
#: keeps unreferenced files for ``GRACE_S`` = 120 s)
DELTA_FOR_S = 60.0

if TYPE_CHECKING:
    from ._replay import Replayer


def write(
    snapshot: Snapshot,
    replayer: Replayer,
    stats: dict[str, os.stat_result],
    old: Head | None,
    age_s: float,
    token: bytes | None = None,
) -> Head | None:
    """Save a snapshot on top of ``old`` (this process's last head, written ``age_s``
    ago), and collect old files when that is due; None when nothing was written.
    ``token``: the saver's, given back once the head is written (``saving``)."""
    stale = old is not None and age_s > DELTA_FOR_S and snapshot.read_head() != old
    if stale and old is not None and not touch(snapshot, old):
        # another process's head replaced this one long ago, and a file it carries
        # over was collected since: leave that head be (the next reader catches up)
        return None
    head = save_snapshot(snapshot, replayer, stats, old)
    if head is not None and token is not None:
        done_saving(snapshot, token)
    if head is not None and collect_due(snapshot, COLLECT_EVERY_S):
        collect(snapshot, head)  # (at most once a minute, whichever process it is)
    return head


def save_snapshot(
    snapshot: Snapshot, replayer: Replayer, stats: dict[str, os.stat_result], old: Head | None
) -> Head | None:
    """Write what ``replayer`` read since ``old``, and a head; None when the folder refused."""
    shards = replayer.shards
    shards.settle_all()
    tokens = dict(old.shards) if old is not None else {}
    for shard in shards.changed():
        version, token = shards.staged.get(shard, (-1, ""))
        if version != shards.version(shard):
            put = _put_shard(snapshot, replayer, shard)
            if put is None:
                return None
            token = put[0]
        tokens[shard] = token
    index = replayer.index
    deltas = 0 if old is None else old.delta_rows
    compact_at = max(COMPACT_AT, len(index.rows) // COMPACT_SHARE)
    if old is None or deltas + len(index.dirty) > compact_at or len(old.rows) > MAX_SEGMENTS:
        rows_token = snapshot.put_rows(index.ordered().values())
        segments = [] if rows_token is None else [rows_token]
        deltas = 0
    elif not index.dirty:
        rows_token, segments = "", list(old.rows)  # (no row changed: the head alone)
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
        unviewed=sorted(index.unviewed()),
    )
    if not snapshot.write_head(head):
        return None
    index.dirty.clear()
    index.edges_dirty = False
    shards.saved()
    return head


def _put_shard(snapshot: Snapshot, replayer: Replayer, shard: str) -> tuple[str, int] | None:
    shards = replayer.shards
    return snapshot.put_shard(
        shard, shards.settle(shard), shards.declared(shard), shards.encode(shard)
    )


def stage(snapshot: Snapshot, replayer: Replayer, budget: int) -> bool:
    """Write some changed shards' files ahead of the next head; True when none is left.

    A long-lived process spreads a save over its next calls this way: at
    least two shards a call (so a cycle ends while writes keep changing
    shards), more while under ``budget`` bytes. A shard that changes again
    before the head is written is written again (``Shards.version``); the
    head names only files of the shards' versions at that moment.
    """
    shards = replayer.shards
    todo = shards.unstaged()
    spent = 0
    for n, shard in enumerate(todo):
        if n >= 2 and spent >= budget:
            return False
        version = shards.version(shard)
        put = _put_shard(snapshot, replayer, shard)
        if put is None:
            return False
        shards.staged[shard] = (version, put[0])
        spent += put[1]
    return True


def saving(snapshot: Snapshot, token: bytes) -> bool:
    """Whether the long-lived process ``token`` names is the one that saves now.

    Many long-lived writers of one list find a head older than a second at the
    same moment; the first to make ``.saving`` holding its token stages and
    writes the next head, and the others leave it be while the file is younger
    than ``SAVING_FOR_S`` (no lock: a saver that died is replaced after that).
    """
    folder = snapshot.folder
    try:
        found = folder.read(SAVING, limit=64)
        if found == token:
            os.utime(SAVING, dir_fd=folder.fd)  # (still saving: not to be taken over)
            return True
        st = None if found is None else folder.lstat(SAVING)
        if st is not None and 0 <= time.time() - st.st_mtime < SAVING_FOR_S:
            return False
        if found is not None:
            folder.unlink(SAVING)
        return folder.publish(SAVING, token)
    except OSError:
        return True  # (as before there was a saver: each saves)


def done_saving(snapshot: Snapshot, token: bytes) -> None:
    """Give up ``.saving`` once the head is written (if it still names ``token``)."""
    try:
        if snapshot.folder.read(SAVING, limit=64) == token:
            snapshot.folder.unlink(SAVING)
    except OSError:
        pass


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
