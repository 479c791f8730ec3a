"""The index of a list: a row per task in creation order, short ids, and edges.

An ``Index`` is what a ``State`` is made of besides the tasks themselves. It
is kept up to date incrementally: a changed task replaces its row; a new task
is appended (rows stay in creation order without a re-sort unless a task
arrives that was created earlier than the newest, as replicas' tasks can);
short ids are recomputed only in the group of ids that share the new one's
first two characters; derived edges are recomputed only when an edge register
or the liveness of a task with edges changed. ``state`` hands out an
immutable ``State``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._fold import derive
from ._ids import SHORT_ID_MIN, insert_prefixes, prefix_group
from ._model import Partial, Task
from ._state import NO_EDGES, NO_KEY, Edges, Key, Overlay, RawEdges, Row, ShardLoader, State


def row_of(task: Task, short: str) -> Row:
    """A task's row."""
    lease = task.lease
    return Row(
        task.id,
        short,
        task.status.value,
        task.owner,
        task.subject,
        task.deleted,
        None if lease is None else lease.until_ms,
        None if lease is None else lease.holder,
        len(task.notes),
        task.created.key if task.created is not None else NO_KEY,
    )


class Index:
    """Rows, short ids and edges of every task read so far.

    Args:
        rows: rows to start from, in creation order (a snapshot's).
        edges: every task's edge registers to start from.
    """

    def __init__(
        self,
        rows: Mapping[str, Row] | None = None,
        edges: RawEdges | None = None,
        derived: Edges | None = None,
        machine: str | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.machine = machine
        self.rows: dict[str, Row] = dict(rows or {})  # (a copy: this index changes it)
        #: tasks shown by the number Claude Code gave them on this machine
        self.aliases: dict[str, str] = dict(aliases or {})
        self.raw_edges: RawEdges = dict(edges or {})
        #: ids by prefix group, made when a new id first needs them (each sorted then)
        self._groups: dict[str, list[str]] | None = None
        self._sorted: set[str] = set()
        self._derived: Edges | None = derived
        self._derived_before: Edges | None = derived
        self.dirty: set[str] = set()  # ids whose row changed since the last snapshot
        #: ids whose task file may differ, each with when it last did (``viewed``)
        self.view_changes: dict[str, int] = {}
        self.view_tick = 0
        self.edges_dirty = False
        self._last_key: Key | None = None
        #: the last state handed out, with the loader it was made with (until a change)
        self._handed: tuple[ShardLoader, State] | None = None
        self._unordered = False
        #: the rows the last states were handed on (never changed), and what changed since
        self._base: dict[str, Row] | None = None
        self._since: dict[str, Row] = {}
        self._aliases: dict[str, str] | None = None  # (a copy, handed out until they change)
        if self.rows:
            self._last_key = next(reversed(self.rows.values())).created

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, partials: Iterable[Partial]) -> list[str]:
        """Take in resolved tasks (new or changed); return the ids whose row changed."""
        changed: list[str] = []
        regroup: dict[str, list[str]] = {}
        reorder = False
        for part in partials:
            task = part.task
            old = self.rows.get(task.id)
            native = task.native
            if (
                native is not None
                and native[0] == self.machine
                and self.aliases.get(task.id) != native[1]
            ):
                self.aliases[task.id] = native[1]
                self._aliases = None
                self._handed = None
            if old is None:
                regroup.setdefault(prefix_group(task.id), []).append(task.id)
                row = row_of(task, self.aliases.get(task.id, task.id[:SHORT_ID_MIN]))
            else:
                row = row_of(task, self.aliases.get(task.id, old.short))
            if old is None or old.created != row.created:
                key = row.created
                if old is not None or (self._last_key is not None and key < self._last_key):
                    reorder = True
                if self._last_key is None or key > self._last_key:
                    self._last_key = key
            if old != row:
                self.rows[task.id] = row
                if self._base is not None:  # (else the next state copies every row)
                    self._since[task.id] = row
                self._handed = None
                changed.append(task.id)
                self.dirty.add(task.id)
                if old is None or old.deleted != row.deleted:
                    self._derived = None
                    self.edges_dirty = True
            self._put_edges(task.id, part.edges)
        if reorder:
            self._handed = None
            self._unordered = True  # sorted once, when rows are next read in order
        for prefix, new in regroup.items():
            changed.extend(self._reshort(prefix, new))
        return changed

    def ordered(self) -> dict[str, Row]:
        """The rows in creation order (sorted here if tasks arrived out of order)."""
        if self._unordered:
            ordered = sorted(self.rows.values(), key=lambda r: (r.created, r.id))
            self.rows = {r.id: r for r in ordered}
            self._unordered = False
            self._base = None
        return self.rows

    def _put_edges(self, task_id: str, registers: Mapping[str, tuple[bool, Key]]) -> None:
        current = self.raw_edges.get(task_id)
        if registers:
            if current != registers:
                self.raw_edges[task_id] = dict(registers)
                self._handed = None
                self._derived = None
                self.edges_dirty = True
        elif current is not None:
            del self.raw_edges[task_id]
            self._handed = None
            self._derived = None
            self.edges_dirty = True

    def _reshort(self, group: str, new: list[str]) -> list[str]:
        groups = self._groups
        if groups is None:  # (an update of known tasks never needs them)
            groups = self._groups = {}
            for task_id in self.rows:  # (new ids among them are not inserted twice)
                groups.setdefault(prefix_group(task_id), []).append(task_id)
        ids = groups.setdefault(group, [])
        if group not in self._sorted:
            ids.sort()
            self._sorted.add(group)
        shorts = insert_prefixes(ids, new)
        changed = []
        for task_id, short in shorts.items():
            short = self.aliases.get(task_id, short)
            row = self.rows[task_id]
            if row.short != short:
                self.rows[task_id] = row = row._replace(short=short)
                if self._base is not None:
                    self._since[task_id] = row
                self._handed = None
                changed.append(task_id)
                self.dirty.add(task_id)
        return changed

    def edges(self) -> Edges:
        """The derived edges (recomputed only after edges or liveness changed)."""
        if self._derived is None:
            rows = self.rows

            def live(task_id: str) -> bool:
                row = rows.get(task_id)
                return row is not None and not row.deleted

            old = self._derived_before
            new = derive(self.raw_edges, live) if self.raw_edges else NO_EDGES
            if old is not None:
                for side_old, side_new in (
                    (old.blocks, new.blocks),
                    (old.blocked_by, new.blocked_by),
                ):
                    for task_id in set(side_old) | set(side_new):
                        if side_old.get(task_id, ()) != side_new.get(task_id, ()):
                            self.unview((task_id,))
            self._derived = self._derived_before = new
        return self._derived

    def take_view_changes(self) -> set[str]:
        """Ids whose task file may differ since the last call (and forget them)."""
        self.edges()
        out, self.view_changes = set(self.view_changes), {}
        return out

    def unview(self, ids: Iterable[str]) -> None:
        """These tasks' files may differ now."""
        self.view_tick += 1
        for task_id in ids:
            self.view_changes[task_id] = self.view_tick

    def unviewed(self) -> set[str]:
        """Ids whose task file may differ (kept: see ``viewed``)."""
        self.edges()
        return set(self.view_changes)

    def viewed(self, ids: Iterable[str], since: int) -> None:
        """These tasks' files were brought in line with every op read up to the tick
        ``since``: forget those of them that did not change again after it."""
        self.edges()
        changes = self.view_changes
        for task_id in ids:
            if changes.get(task_id, since + 1) <= since:
                del changes[task_id]

    def state(self, load: ShardLoader) -> State:
        """An immutable state of everything indexed, loading tasks through ``load``.

        Asked again with the same loader and nothing changed in between, it is
        the same state (a pass over 100k task files asks once per file).
        """
        handed = self._handed
        if handed is not None and handed[0] is load:
            return handed[1]
        rows = self.ordered()
        base = self._base
        if base is None or len(self._since) > 32 + len(rows) // 64:
            # (a copy of every row now and then: in between, only the changes are copied)
            base = self._base = dict(rows)
            self._since = {}
        view = (
            base
            if not self._since
            else Overlay(base, dict(self._since), sum(1 for i in self._since if i not in base))
        )
        if self._aliases is None:
            self._aliases = dict(self.aliases)
        state = State(view, load, self.edges(), self._aliases)
        self._handed = (load, state)
        return state

    def with_edges(self, task: Task) -> Task:
        """A task (without derived edges) as a state shows it."""
        from ._datatype import replace

        edges = self.edges()
        blocks = edges.blocks.get(task.id, ())
        blocked_by = edges.blocked_by.get(task.id, ())
        if blocks or blocked_by:
            return replace(task, blocks=blocks, blocked_by=blocked_by)
        return task
