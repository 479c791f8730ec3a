"""The state of a list: a row per task, derived edges, and the tasks themselves.

A ``State`` answers most questions from its *rows* (id, short id, status,
owner, subject, lease, creation order) and its derived edges, and loads full
``Task`` values only when asked, shard by shard. It is a value: once
returned it never changes, whatever the ledger reads afterwards.
"""

from __future__ import annotations

import re
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from itertools import compress
from operator import attrgetter, not_
from typing import TYPE_CHECKING, NamedTuple

from ._datatype import datatype, replace
from ._errors import Ambiguous, NotFound
from ._ids import shard_of

if TYPE_CHECKING:  # a read answered from the snapshot's rows never loads the model
    from ._model import Task

_REF_RE = re.compile(r"[0-9a-f]+")
_COMPLETED = "completed"
_DELETED = attrgetter("deleted")
_PENDING = "pending"
#: the values of ``Status`` and ``OpKind``, for readers that do not load the model
STATUSES = ("pending", "in_progress", "completed")
OP_KINDS = ("create", "update", "claim", "release", "note", "delete")

#: the total order of writes: (HLC ms, HLC counter, session, writer)
Key = tuple[int, int, str, str]
NO_KEY: Key = (0, 0, "", "")
#: per blocked task: blocker -> (switched on, key of the write that won)
RawEdges = dict[str, dict[str, tuple[bool, Key]]]
#: loads one shard's tasks (without derived edges)
ShardLoader = Callable[[str], Mapping[str, "Task"]]


class Row(NamedTuple):
    """What most commands need to know about a task, without loading it.

    Attributes:
        id: the full id.
        short: its shortest unique prefix of at least four characters.
        status: ``pending``, ``in_progress`` or ``completed``.
        owner: the owner, or "".
        subject: the subject.
        deleted: True for a tombstone.
        lease_until: the end of its claim's lease (epoch ms), if claimed.
        lease_holder: the session that holds (or held) that lease.
        notes: how many notes it has.
        created: the creation stamp's order key.
    """

    id: str
    short: str
    status: str
    owner: str
    subject: str
    deleted: bool
    lease_until: int | None
    lease_holder: str | None
    notes: int
    created: Key

    def holder(self, now_ms: int) -> str | None:
        """The session holding the task under a live lease, if any (``Task.holder``)."""
        if self.lease_until is None or self.deleted or self.status == _COMPLETED:
            return None
        return self.lease_holder if self.lease_until > now_ms else None


@datatype(frozen=True)
class Edges:
    """Edges as every reader derives them.

    Attributes:
        blocks: blocker -> the live tasks it blocks, in edge order.
        blocked_by: blocked -> its live blockers, in edge order.
        ignored: ``(blocker, blocked)`` edges left out to break cycles.
    """

    blocks: Mapping[str, tuple[str, ...]]
    blocked_by: Mapping[str, tuple[str, ...]]
    ignored: tuple[tuple[str, str], ...] = ()


NO_EDGES = Edges({}, {})


class Overlay(Mapping[str, Row]):
    """Rows as a frozen base and the rows changed or added since, in creation order.

    What a long-lived index hands out with each state instead of a copy of
    every row: lookups see a change first; a pass over all rows merges the
    two once (a changed row keeps its place, an added one comes last).
    """

    __slots__ = ("_added", "_base", "_changes", "_merged")

    def __init__(self, base: dict[str, Row], changes: dict[str, Row], added: int) -> None:
        self._base = base
        self._changes = changes
        self._added = added
        self._merged: dict[str, Row] | None = None

    def __getitem__(self, key: str) -> Row:
        found = self._changes.get(key)
        return found if found is not None else self._base[key]

    def get(self, key: str, default: Row | None = None) -> Row | None:  # type: ignore[override]
        found = self._changes.get(key)
        return found if found is not None else self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._changes or key in self._base

    def __len__(self) -> int:
        return len(self._base) + self._added

    def merged(self) -> dict[str, Row]:
        """Every row, as one dict (made on first use)."""
        if self._merged is None:
            merged = dict(self._base)
            merged.update(self._changes)
            self._merged = merged
        return self._merged

    def __iter__(self) -> Iterator[str]:
        return iter(self.merged())

    def keys(self) -> KeysView[str]:
        return self.merged().keys()

    def values(self) -> ValuesView[Row]:
        return self.merged().values()

    def items(self) -> ItemsView[str, Row]:
        return self.merged().items()


class LazyTasks(Mapping[str, "Task"]):
    """Tasks by id, in creation order, loaded a shard at a time on first use.

    Args:
        rows: every task's row, in creation order.
        load: reads one shard's tasks (without derived edges).
        edges: the derived edges to put on each task.
    """

    def __init__(self, rows: Mapping[str, Row], load: ShardLoader, edges: Edges) -> None:
        self._rows = rows
        self._load = load
        self._edges = edges
        self._shards: dict[str, Mapping[str, Task]] = {}
        self._done: dict[str, Task] = {}

    def __getitem__(self, task_id: str) -> Task:
        task = self._done.get(task_id)
        if task is not None:
            return task
        if task_id not in self._rows:
            raise KeyError(task_id)
        shard = shard_of(task_id)
        tasks = self._shards.get(shard)
        if tasks is None:
            tasks = self._shards[shard] = self._load(shard)
        raw = tasks[task_id]
        blocks = self._edges.blocks.get(task_id, ())
        blocked_by = self._edges.blocked_by.get(task_id, ())
        if blocks or blocked_by:
            raw = replace(raw, blocks=blocks, blocked_by=blocked_by)
        self._done[task_id] = raw
        return raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows


class State:
    """Every task of a list as resolved from the records read so far.

    Args:
        rows: id -> row, deleted tasks included, oldest first.
        load: reads one shard's tasks (without derived edges).
        edges: the derived edges.
        aliases: task id -> its number in this machine's Claude Code folder.

    Attributes:
        rows: id -> row, deleted tasks included, oldest first.
        tasks: id -> task, in the same order (loaded on first use).
        edges: the derived edges.
    """

    __slots__ = ("_by_alias", "aliases", "edges", "rows", "tasks")

    def __init__(
        self,
        rows: Mapping[str, Row],
        load: ShardLoader,
        edges: Edges,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.rows = rows
        self.edges = edges
        self.tasks: Mapping[str, Task] = LazyTasks(rows, load, edges)
        #: task id -> the number Claude Code shows it by in this machine's folder
        self.aliases: Mapping[str, str] = aliases or {}
        self._by_alias: dict[str, str] | None = None

    def by_alias(self, number: str) -> str | None:
        """The task a number Claude Code gave it here names, if any."""
        if self._by_alias is None:
            self._by_alias = {n: t for t, n in self.aliases.items()}
        return self._by_alias.get(number)

    @property
    def ignored_edges(self) -> tuple[tuple[str, str], ...]:
        """``(blocker, blocked)`` edges left out to break cycles."""
        return self.edges.ignored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return (
            list(self.rows.items()) == list(other.rows.items())
            and self.edges == other.edges
            and all(self.tasks[i] == other.tasks[i] for i in self.rows)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"State({len(self.rows)} tasks)"

    def live(self) -> Iterator[Task]:
        """Tasks that are not deleted, oldest first."""
        return (self.tasks[i] for i, row in self.rows.items() if not row.deleted)

    def live_rows(self) -> Iterator[Row]:
        """Rows of tasks that are not deleted, oldest first."""
        return (row for row in self.rows.values() if not row.deleted)

    def select(
        self,
        now_ms: int,
        *,
        statuses: Iterable[str] = (),
        owner: str | None = None,
        ready: bool = False,
        include_deleted: bool = False,
    ) -> list[Row]:
        """The rows ``list`` shows, oldest first: live ones (all with ``include_deleted``),
        of these statuses, of this owner, and only ready ones if asked."""
        wanted = frozenset(statuses)
        values = self.rows.values()
        if not (wanted or ready or owner is not None):  # (``list``: at C speed)
            if include_deleted:
                return list(values)
            return list(compress(values, map(not_, map(_DELETED, values))))
        rows = values if include_deleted else self.live_rows()
        return [
            r
            for r in rows
            if (not wanted or r.status in wanted)
            and (owner is None or r.owner == owner)
            and (not ready or self.is_ready(r, now_ms))
        ]

    def short(self, task_id: str) -> str:
        """The shortest unique prefix (at least 4 characters) of an id."""
        row = self.rows.get(task_id)
        return task_id if row is None else row.short

    def resolve(self, ref: str) -> str:
        """The full id a reference names: a full id or a unique prefix (deleted tasks included).

        Raises:
            NotFound: when nothing matches.
            Ambiguous: when several tasks match, listing them.
        """
        key = ref.strip().lower()
        if key in self.rows:
            return key
        if not key or not _REF_RE.fullmatch(key):
            raise NotFound(f"no task matches {ref!r}")
        aliased = self.by_alias(key) if key.isdigit() else None
        if aliased is not None:  # a number Claude Code gave the task in this folder
            return aliased
        found = [row for task_id, row in self.rows.items() if task_id.startswith(key)]
        if not found:
            raise NotFound(f"no task matches {ref!r}")
        if len(found) > 1:
            live = [row for row in found if not row.deleted]
            if len(live) == 1:
                return live[0].id
            raise Ambiguous(ref, tuple(sorted(row.id for row in found)))
        return found[0].id

    def find(self, ref: str) -> Task:
        """The task a reference names (see ``resolve``).

        Raises:
            NotFound, Ambiguous: as ``resolve``.
        """
        return self.tasks[self.resolve(ref)]

    def blocked_by(self, task_id: str) -> tuple[str, ...]:
        """The task's live blockers (derived)."""
        return self.edges.blocked_by.get(task_id, ())

    def open_blockers(self, task: Task | Row) -> tuple[str, ...]:
        """The task's blockers that are not completed."""
        rows = self.rows
        return tuple(b for b in self.blocked_by(task.id) if rows[b].status != _COMPLETED)

    def is_ready(self, task: Task | Row, now_ms: int) -> bool:
        """Ready to start: every blocker completed, and pending and unowned, or its lease ran out.

        A task whose claim's lease expired is claimable again, whatever
        status and owner its holder left on it (unless completed).
        """
        row = self.rows[task.id]
        if row.deleted or row.status == _COMPLETED or self.open_blockers(row):
            return False
        if row.lease_until is not None:
            return row.lease_until <= now_ms
        return row.status == _PENDING and not row.owner
