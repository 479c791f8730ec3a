"""The read path: a fresh snapshot answers at once; otherwise the replayer catches up.

``Reader.state`` stats the logs. When the snapshot's head covers them
exactly, the state is the snapshot's rows and edges, and tasks are read from
its shard files when asked (no replay at all). Otherwise a ``Replayer``
starts from the snapshot -- or from the first byte of every log when there is
none, or it is damaged -- reads only the log tails after it, and the reader
writes a new snapshot of what it read. A long-lived reader (the library, the
MCP server, ``watch``) keeps its replayer, so each later call reads only the
bytes appended since, and writes snapshots at most once a second (``_held_back``).

Time travel (``at``) and the audit trail (``trail``) read through the same
replayer; nothing here decides what a record means.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from ._cache_format import Head
from ._errors import CacheBroken, StorageError
from ._layout import Layout, LogsKey, logs_key, scan_logs
from ._snapshot import Base, Snapshot
from ._state import State

if TYPE_CHECKING:
    from ._log import Record
    from ._model import Partial, Task
    from ._replay import Replayer

_SAVE_EVERY_S = 1.0  # a long-lived reader writes snapshots at most this often
#: a read with at least this many log bytes to get through says so (``progress``)
PROGRESS_BYTES = 2_000_000


class Reader:
    """The read path of one list.

    Args:
        layout: where the list lives.
        clock: epoch-milliseconds wall clock.
        warnings: where to report what was skipped or rebuilt.
        long_lived: keep the replayer between calls and throttle snapshot writes.
    """

    def __init__(
        self,
        layout: Layout,
        clock: Callable[[], int],
        warnings: list[str],
        *,
        long_lived: bool = False,
        machine: str | None = None,
    ) -> None:
        self.machine = machine
        self.layout = layout
        self.clock = clock
        self.warnings = warnings
        self.long_lived = long_lived
        self.replayer: Replayer | None = None
        #: the logs' stats the last snapshot answer was read for, and that answer
        self._answer: tuple[LogsKey, State] | None = None
        self.head: Head | None = None
        self._saved_at = 0.0
        self._staging_since = 0.0
        self._quiet: tuple[Replayer, LogsKey] | None = None  # the logs as last caught up to
        self._client_id: int | None = None
        self._token = os.urandom(8).hex().encode()  # (names this reader as the saver)
        self._snap: Snapshot | None = None
        #: tasks the snapshot answered for whose files may not be in line (``take_changed``)
        self._unviewed: set[str] = set()
        #: keep the records each catch-up accepts in ``fresh_records`` (a follower drains them)
        self.collecting = False
        self.fresh_records: list[Record] = []
        #: told when a read has a lot of log to get through (the CLI says so on a terminal)
        self.progress: Callable[[str], None] | None = None

    # ---------------------------------------------------------------- folders

    def _snapshot(self, create: bool = False) -> Snapshot | None:
        """The cache folder, kept open while this reader lives (snapshots load from it later)."""
        snap = self._snap
        if snap is not None and snap.folder.fd >= 0:
            return snap
        folder = self.layout.open("cache", create=create)
        self._snap = None if folder is None else Snapshot(folder)
        return self._snap

    def log_stats(self) -> dict[str, os.stat_result]:
        """Every log's stat, as the read path sees them."""
        try:
            folder = self.layout.open("logs")
        except StorageError as exc:
            raise StorageError(f"cannot list the logs in {self.layout.logs}: {exc}") from exc
        if folder is None:
            return {}
        with folder:
            return scan_logs(folder)

    # ------------------------------------------------------------------ state

    def state(self, *, save: bool = True) -> State:
        """The current state (see the module).

        Args:
            save: write the snapshot when the throttle allows (``False`` for
                a read made while holding a lock of Claude Code's).
        """
        if self.replayer is None and not self.collecting:
            fresh = self._from_snapshot()
            if fresh is not None:
                return fresh
        replayer = self._replayer()
        stats = self.log_stats()
        quiet = (replayer, logs_key(stats))  # (a Replayer equals only itself)
        if self._quiet == quiet:  # nothing appended since this replayer last caught up
            if self.long_lived and save:
                self.save(stats=stats)  # a save the throttle held back is made once it passed
            return replayer.state()
        if self.progress is not None:
            cursors = replayer.cursors
            unread = sum(st.st_size - (c.offset if (c := cursors.get(n)) else 0)
                         for n, st in stats.items())  # fmt: skip
            if unread >= PROGRESS_BYTES:
                self.progress(f"reading {unread / 1e6:.1f} MB of logs ...")
        accepted = replayer.catch_up(stats, keep=self.collecting)
        if self.collecting:
            self.fresh_records.extend(accepted)
        self._report(replayer)
        state = replayer.state()
        if save:
            self.save(stats=stats)
        self._quiet = quiet
        return state

    def _from_snapshot(self) -> State | None:
        """The state of a snapshot covering the logs exactly (the same while they are), or None."""
        stats = self._stats_or_none()
        if stats is None:
            return None
        key = logs_key(stats)
        if self._answer is not None and self._answer[0] == key:
            return self._answer[1]
        found = self._head()
        if found is None:
            return None
        snapshot, head = found
        try:
            if not head.fresh(stats):
                return None
            known = snapshot.rows(head.rows)
            _, derived = snapshot.edges(head.edges, known)
        except CacheBroken:
            return None
        self.head = head

        def load(shard: str) -> dict[str, Task]:
            return {t: p.task for t, p in self._shard_tasks(shard, head).items()}

        state = State(known, load, derived, head.aliases)
        self._answer = (key, state)
        self._unviewed.update(head.unviewed)
        return state

    def _stats_or_none(self) -> dict[str, os.stat_result] | None:
        try:
            return self.log_stats()
        except StorageError:
            raise
        except OSError:
            return None

    def _shard_tasks(self, shard: str, head: Head) -> Mapping[str, Partial]:
        """A shard's resolved tasks as of a head (rebuilt from the logs if damaged)."""
        token = head.shards.get(shard)
        if token is None:
            return {}
        snapshot = self._snapshot()
        try:
            if snapshot is None:
                raise CacheBroken("the cache folder is gone")
            tasks = snapshot.shard_tasks(shard, token)[0]
            return {task_id: tasks[task_id] for task_id in tasks}  # (each read here)
        except CacheBroken as exc:
            self.warnings.append(f"the derived cache was broken ({exc}): read from the logs")
            self.drop()
            replayer = self._replayer()
            replayer.catch_up()
            return replayer.shards.settle(shard)

    def _replayer(self) -> Replayer:
        """This reader's replayer, started from the snapshot (or from zero)."""
        from ._replay import Replayer

        if self.replayer is not None:
            return self.replayer
        base = self._base()
        try:
            self.replayer = Replayer(
                self.layout.logs,
                trusted=self.layout.data,
                base=base,
                client_id=self._client_id,
                clock=self.clock,
                machine=self.machine,
            )
        except CacheBroken as exc:
            self.warnings.append(f"the derived cache was broken ({exc}): rebuilt from the logs")
            self.drop()
            self.replayer = Replayer(
                self.layout.logs, trusted=self.layout.data, client_id=self._client_id,
                clock=self.clock, machine=self.machine,
            )  # fmt: skip
        return self.replayer

    def _head(self) -> tuple[Snapshot, Head] | None:
        """The cache folder and its head, if there are both."""
        snapshot = self._snapshot()
        head = None if snapshot is None else snapshot.read_head()
        return None if snapshot is None or head is None else (snapshot, head)

    def _base(self) -> Base | None:
        found = self._head()
        if found is None:
            return None
        snapshot, head = found
        try:
            base = snapshot.base(head)
        except CacheBroken as exc:
            self.warnings.append(f"the derived cache was broken ({exc}): rebuilt from the logs")
            return None
        self.head = head
        return base

    def for_writing(self, client_id: int) -> Replayer:
        """The replayer a writer appends through (its documents write as ``client_id``)."""
        if self.replayer is not None and self.replayer.shards.client_id != client_id:
            self.replayer.shards.client_id = client_id
        self._client_id = client_id
        return self._replayer()

    def discard(self) -> None:
        """Forget the replayer (its documents may hold a write that never reached a log)."""
        self.replayer = None

    def drop(self) -> None:
        """Drop the snapshot and the replayer: the next read replays the logs."""
        self.replayer = None
        self.head = None
        self._answer = None
        snapshot = self._snapshot()
        if snapshot is not None:
            snapshot.drop()

    def rebuilding(self, action: Callable[[], State]) -> State:
        """Run ``action``; if a snapshot file turns out damaged, drop it and run again."""
        try:
            return action()
        except CacheBroken as exc:
            self.warnings.append(f"the derived cache was broken ({exc}): rebuilt from the logs")
            self.drop()
            return action()

    def appended(self, record: Record) -> None:
        """A record this process just appended (a follower hands it out like any other)."""
        if self.collecting:
            self.fresh_records.append(record)

    def take_changed(self) -> set[str]:
        """Ids of tasks whose task file may differ since the last call (and forget them)."""
        out, self._unviewed = self._unviewed, set()
        if self.replayer is not None:
            out |= self.replayer.index.take_view_changes()
        return out

    def unview(self, ids: Iterable[str]) -> None:
        """These tasks' files were not brought in line after all (taken again next time)."""
        if self.replayer is not None:
            self.replayer.index.unview(ids)
        else:
            self._unviewed.update(ids)

    def _report(self, replayer: Replayer) -> None:
        self.warnings.extend(str(w) for w in replayer.take_warnings())

    def save(self, *, force: bool = False, stats: dict[str, os.stat_result] | None = None) -> None:
        """Write a snapshot of what the replayer read, if it read anything new (best effort)."""
        replayer = self.replayer or self._viewed_head()
        if replayer is None or replayer.multi:
            return  # (a writer named by two logs: every read replays, see ``Replayer``)
        if replayer.shards.broken is not None:
            self.drop()  # a snapshot file is damaged: the next read starts from the logs
            return
        now = time.monotonic()
        if self.long_lived and not force and self._held_back(now):
            return
        stats = self.log_stats() if stats is None else stats
        head = self.head
        if (
            head is not None
            and head.logs == replayer.marks(stats)
            and not replayer.shards.changed()
            and replayer.index.unviewed().issuperset(head.unviewed)
        ):
            return
        try:
            snapshot = self._snapshot(create=True)
        except StorageError:
            return  # a read-only data root: the logs stay the truth
        if snapshot is None:
            return
        if self.long_lived and not force and self._saved_at and not self._staged(snapshot, now):
            return  # (the rest of this save is written in the next calls)
        from ._save import write

        written = write(snapshot, replayer, stats, self.head, now - self._saved_at, self._token)
        if written is not None:
            self.head = written
            self._saved_at = now

    def _viewed_head(self) -> Replayer | None:
        """A replayer to write the head it answered from again without the tasks it names,
        once a pass looked at them (else every later command looks at them again)."""
        head = self.head
        if self._answer is None or head is None or not head.unviewed or self._unviewed:
            return None
        replayer = self._replayer()
        if self.head == head:  # (not if another process's head came since: its stay)
            replayer.index.viewed(head.unviewed, replayer.index.view_tick)
        return replayer

    def _held_back(self, now: float) -> bool:
        """Whether a long-lived reader leaves this save for later.

        Its first save is made at once. After that it saves at most every
        ``_SAVE_EVERY_S``, and not while the head on disk is younger than
        that, whoever wrote it; of many long-lived writers of one list, the one
        holding ``.saving`` stages and writes the next head (``_save.saving``:
        no lock, so none can go stale); what the others caught up since is
        read by the next reader, or saved by them once the list is quiet. The
        save itself is spread over the next calls (``_staged``).
        """
        if not self._saved_at:
            return False
        if now - self._saved_at < _SAVE_EVERY_S:
            return True
        snapshot = self._snapshot()
        age = None if snapshot is None else snapshot.head_age_s()
        return age is not None and 0 <= age < _SAVE_EVERY_S

    def _staged(self, snapshot: Snapshot, now: float) -> bool:
        """Stage a few more shard files for the next head (``_save.stage``); True once
        none is left. Files staged too long ago are written again."""
        from ._save import STAGE_BYTES, STAGED_FOR_S, saving, stage

        replayer = self.replayer
        assert replayer is not None
        if not saving(snapshot, self._token):
            return False  # another long-lived process is saving
        if not replayer.shards.staged or now - self._staging_since > STAGED_FOR_S:
            replayer.shards.staged.clear()
            self._staging_since = now
        return stage(snapshot, replayer, STAGE_BYTES)

    # ------------------------------------------------------- time and audit

    def at(self, at_ms: int) -> State:
        """The state as of a moment: only ops whose HLC is at or before it.

        A moment at or after now is the current state, even when some
        writer's clock ran ahead and stamped its ops in the future.
        """
        from ._replay import Replayer

        if at_ms >= self.clock():
            return self.state()
        replayer = Replayer(
            self.layout.logs, trusted=self.layout.data, until_ms=at_ms, clock=self.clock,
            machine=self.machine,
        )  # fmt: skip
        replayer.catch_up()
        self._report(replayer)
        return replayer.state()

    def trail(self) -> Iterator[Record]:
        """Every record the replay accepted (and pycrdt took), in causal (HLC) order."""
        self.state()
        replayer = self._replayer()
        replayer.shards.settle_all()
        self._report(replayer)
        from ._audit import trail

        return iter(trail(replayer))
