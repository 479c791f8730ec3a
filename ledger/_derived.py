"""Everything derived from the logs, kept in step: the cache, the task files, the state.

``Derived`` holds the state as of the cache's head. ``settle`` brings the
cache and the task files up to what a replayer has read: it resolves only
the shards the replayer changed, writes their files and snapshots, the rows
and the head, and rewrites only the task files whose task changed. Then it
looks at the logs again: if another process appended meanwhile it catches
up and writes again, so the last process to finish always leaves the
newest files, and once writers stop the folder equals the replay of every
log. ``repair`` rewrites task files someone removed or replaced.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from ._cache import Aux, Cache, Head
from ._errors import CacheBroken
from ._paths import scan_logs
from ._state import Edges, LazyTasks, State

if TYPE_CHECKING:
    from ._materialize import Outcome
    from ._model import Task
    from ._paths import Layout
    from ._replay import Base, Replayer

# How often to re-check the logs after writing task files. Rounds repeat only
# while other processes keep appending, and each of those settles its own.
SETTLE_ROUNDS = 32
_COLLECT_EVERY_S = 60.0
# A long-lived process (library, MCP server, watch) rewrites the cache at most
# this often; in between, changed shards wait for its next write. A stale
# cache costs a reader only the replay of the tail, and the first reader to
# find it stale writes it again. A CLI command writes once, at once.
_WRITE_EVERY_S = 0.25


class Derived:
    """The derived side of one list.

    Args:
        layout: where the list lives.
        warnings: where to report what the file system refused.
    """

    def __init__(self, layout: Layout, warnings: list[str]) -> None:
        self.layout = layout
        self.cache = Cache(layout.cache)
        self.warnings = warnings
        self.head: Head | None = None
        self.aux: Aux | None = None  # None: not read from the cache yet
        self.state: State | None = None
        self._collected = 0.0
        self._written_at: float | None = None
        self._pending: set[str] = set()  # shards changed since the last cache write

    # ------------------------------------------------------------- loading

    def load(self) -> bool:
        """Read the cache's head (again, if it changed); False when there is none to use."""
        head = self.cache.read_head()
        if head is None:
            return False
        if self.head is not None and head == self.head and self.state is not None:
            return True
        try:
            rows, blocks, blocked_by, ignored = self.cache.rows(head.rows)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return False
        self.head = head
        self.aux = None
        edges = Edges(blocks, blocked_by, ignored)
        self.state = State(rows, LazyTasks(rows, {}, partial(self._tasks, head), edges), edges)
        return True

    def _tasks(self, head: Head, shard: str) -> dict[str, Task]:
        """One shard's tasks as of ``head`` (a state read earlier stays as it was)."""
        token = head.shards.get(shard)
        if token is None:
            return {}
        try:
            return self.cache.shard_tasks(shard, token)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return self._recover(shard)

    def _recover(self, shard: str) -> dict[str, Task]:
        """A shard file went missing under a reader: answer from the logs, rebuild later."""
        from ._replay import Replayer

        self.warnings.append(f"cache file of shard {shard} unreadable: read from the logs")
        self.forget()  # the next command rebuilds the cache
        replayer = Replayer(self.layout.logs)
        replayer.catch_up()
        replayer.state()
        return replayer.fresh_tasks(shard)

    def _aux(self) -> Aux:
        if self.aux is None:
            if self.head is None:
                return Aux()
            try:
                self.aux = self.cache.aux(self.head.aux)
            except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
                raise CacheBroken("aux") from exc
        return self.aux

    def fresh(self, stats: Mapping[str, os.stat_result]) -> bool:
        """True when the loaded head covers the logs exactly as they are."""
        return self.head is not None and self.head.fresh(stats)

    def base(self, stats: Mapping[str, os.stat_result]) -> Base | None:
        """Where a replayer can start instead of the beginning of every log.

        None when there is no usable cache -- or when a log shrank or was
        replaced under it (logs only grow), which invalidates it.
        """
        from ._replay import Base

        if not self.load():
            return None
        head, state = self.head, self.state
        assert head is not None and state is not None
        broken = head.broken_logs(self.layout.logs, stats)
        if broken:
            self.warnings.append(
                f"log {broken[0]} changed under the cache (logs only grow): "
                "rebuilt from the logs; run `taskledger verify`"
            )
            self.forget()
            return None
        aux = self._aux()

        def snapshot(shard: str) -> bytes | None:
            token = head.shards.get(shard)
            if token is None:
                return None
            try:
                return self.cache.shard_snapshot(shard, token)
            except (OSError, ValueError) as exc:
                raise CacheBroken(f"snapshot {shard}") from exc

        tasks = partial(self._tasks, head)
        return Base(head.logs, head.progress, snapshot, state.rows, aux.edges, tasks)

    def forget(self) -> None:
        """Drop the cache (the next command rebuilds it from the logs)."""
        self.head = None
        self.state = None
        self.aux = None
        try:
            (self.layout.cache / "head.json").unlink(missing_ok=True)
        except OSError:
            pass

    # ------------------------------------------------------------ settling

    def settle(
        self,
        replayer: Replayer,
        stats: Mapping[str, os.stat_result],
        rounds: int = SETTLE_ROUNDS,
    ) -> State:
        """Bring the task files and the cache up to what ``replayer`` reads.

        Args:
            replayer: reads the logs (caught up here first).
            stats: the logs as listed before.
            rounds: how many times to look at the logs again after writing.

        Returns:
            The state written.
        """
        from ._materialize import Outcome, materialize

        changed_shards: set[str] = set()
        state = self.state
        outcome = Outcome()
        for _ in range(rounds):
            replayer.catch_up(sorted(stats))
            self.warnings.extend(str(w) for w in replayer.warnings)
            replayer.warnings.clear()
            before = self.state
            state = replayer.state()
            shards = replayer.take_extracted()
            changed_shards |= shards
            outcome = materialize(
                self.layout.root,
                state,
                changed=_changed(before, state, shards),
                known=self._aux().files if before is not None else {},
                check_disk=before is None or self._folder_moved(),
                force=before is None,
            )
            self._note_errors(outcome)
            self.state = state
            self.aux = Aux(replayer.edges, outcome.files)
            if self.head is not None:
                self.head.folder_mtime = -1 if outcome.errors else outcome.folder_mtime
            covered = stats
            stats = scan_logs(self.layout.logs)
            if self._marks(replayer, covered) == self._marks(replayer, stats):
                break
        assert state is not None
        self._write(replayer, covered, state, changed_shards, outcome)
        return state

    def _marks(
        self, replayer: Replayer, stats: Mapping[str, os.stat_result]
    ) -> dict[str, list[int]]:
        marks = {}
        for name, cursor in replayer.cursors.items():
            st = stats.get(name)
            read = cursor.offset + cursor.tail
            if st is None:
                marks[name] = [-1, read, -1, cursor.offset, cursor.line]  # gone: not fresh
            elif read == st.st_size:
                marks[name] = [st.st_ino, st.st_size, st.st_mtime_ns, cursor.offset, cursor.line]
            else:
                marks[name] = [st.st_ino, read, -1, cursor.offset, cursor.line]  # grew meanwhile
        return marks

    def _write(
        self,
        replayer: Replayer,
        stats: Mapping[str, os.stat_result],
        state: State,
        shards: Iterable[str],
        outcome: Outcome,
    ) -> None:
        """Write the changed shards, the rows, the aux and a new head (best effort)."""
        self._pending.update(shards)
        now = time.monotonic()
        if self._written_at is not None and now - self._written_at < _WRITE_EVERY_S:
            return
        if not self.layout.root.is_dir():
            return
        tokens = dict(self.head.shards) if self.head is not None else {}
        for shard in sorted(self._pending):
            token = self.cache.put_shard(
                shard, replayer.fresh_tasks(shard), replayer.replica.encode(shard)
            )
            if token is None:
                return  # read-only cache: nothing is lost, the logs stay the truth
            tokens[shard] = token
        edges = state.edges
        rows = self.cache.put_rows(state.rows, edges.blocks, edges.blocked_by, edges.ignored)
        aux = self.cache.put_aux(self._aux())
        if rows is None or aux is None:
            return
        head = Head(
            logs=self._marks(replayer, stats),
            progress=replayer.progress(),
            shards=tokens,
            rows=rows,
            aux=aux,
            folder_mtime=-1 if outcome.errors else outcome.folder_mtime,
        )
        if self.cache.write_head(head):
            self.head = head
            self._pending.clear()
            self._written_at = now
            if now - self._collected > _COLLECT_EVERY_S:
                self._collected = now
                self.cache.collect(head)

    # ------------------------------------------------------------ repairing

    def _folder_moved(self) -> bool:
        head = self.head
        if head is None:
            return True
        try:
            return self.layout.root.stat().st_mtime_ns != head.folder_mtime
        except OSError:
            return False

    def repair(self) -> bool:
        """Rewrite task files that were removed or replaced since the head; True if it looked."""
        if self.state is None or not self._folder_moved():
            return False
        from ._materialize import materialize

        outcome = materialize(
            self.layout.root, self.state, changed=(), known=self._aux().files, check_disk=True
        )
        self._note_errors(outcome)
        self._keep_stats(outcome)
        return True

    def force_materialize(self) -> Outcome:
        """Compare every task file with the state and fix what differs (``materialize``)."""
        from ._materialize import materialize

        assert self.state is not None
        outcome = materialize(
            self.layout.root,
            self.state,
            changed=(),
            known=self._aux().files,
            check_disk=True,
            force=True,
        )
        self._keep_stats(outcome)
        return outcome

    def _keep_stats(self, outcome: Outcome) -> None:
        """Record the task files' stats after a repair pass, in the aux and a new head."""
        self.aux = Aux(self._aux().edges, outcome.files)
        head = self.head
        if head is not None and self.layout.root.is_dir():
            aux = self.cache.put_aux(self.aux)
            if aux is not None:
                head.aux = aux
                head.folder_mtime = -1 if outcome.errors else outcome.folder_mtime
                self.cache.write_head(head)

    def _note_errors(self, outcome: Outcome) -> None:
        self.warnings.extend(f"task files not updated: {e}" for e in outcome.errors)


def _changed(before: State | None, after: State, shards: Iterable[str]) -> Iterable[str] | None:
    """Ids whose task file may be stale (None: all of them).

    Only tasks of the shards resolved again can have changed their own
    fields; any task can have changed its derived edges.
    """
    if before is None:
        return None
    fresh = set(shards)
    out = []
    old_blocks, old_by = before.edges.blocks, before.edges.blocked_by
    new_blocks, new_by = after.edges.blocks, after.edges.blocked_by
    for ident in after.rows:
        if ident[:2] in fresh:
            if ident not in before.rows or before.tasks[ident] != after.tasks[ident]:
                out.append(ident)
        elif old_blocks.get(ident, ()) != new_blocks.get(ident, ()) or old_by.get(
            ident, ()
        ) != new_by.get(ident, ()):
            out.append(ident)
    return out
