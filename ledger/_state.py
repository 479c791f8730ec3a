"""The state of a list: a row per task, derived edges, and the tasks themselves.

A ``State`` answers most questions from its *rows* -- id, short id, status,
owner, subject, lease, creation order -- and its derived edges, and loads
full ``Task`` values only when asked, shard by shard (the derived cache
keeps each shard's tasks in its own file). ``blocks``/``blockedBy`` are
derived from the edges stored on live tasks, so the two can never disagree;
when concurrent writes made edges close a cycle, every replica drops the
same one: the latest by (HLC, session).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import repeat
from typing import TYPE_CHECKING, Any, NamedTuple

from ._errors import Ambiguous, NotFound

if TYPE_CHECKING:  # kept out of the import of a read answered from the cache
    from ._model import Task
    from ._resolve import Partial

_HEX_RE = re.compile(r"[0-9a-f]+")
SHORT_ID_MIN = 4
_COMPLETED = "completed"  # Status.COMPLETED.value
_PENDING = "pending"  # Status.PENDING.value
#: the values of ``Status`` and ``OpKind``, for readers that do not load the model
STATUSES = ("pending", "in_progress", "completed")
OP_KINDS = ("create", "update", "claim", "release", "note", "delete")

Key = tuple[int, int, str, str]
#: per blocked task: blocker -> (switched on, key of the write that won)
RawEdges = dict[str, dict[str, tuple[bool, Key]]]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while building big acyclic data.

    Parsing the cache builds tens of thousands of tuples, lists and strings
    and no cycles; each collection the allocations would trigger walks them
    all for nothing (a few ms of a 10k-task ``list``).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
        created: the creation stamp's order key (HLC ms, counter, session, writer).
    """

    id: str
    short: str
    status: str
    owner: str
    subject: str
    deleted: bool
    lease_until: int | None
    lease_holder: str | None
    created: Key

    def holder(self, now_ms: int) -> str | None:
        """The session holding the task under a live lease, if any (``Task.holder``)."""
        if self.lease_until is None or self.deleted or self.status == _COMPLETED:
            return None
        return self.lease_holder if self.lease_until > now_ms else None


def row_of(task: Task, short: str) -> Row:
    """A task's row."""
    lease = task.lease
    created = task.created.key if task.created is not None else (0, 0, "", "")
    return Row(
        task.id,
        short,
        task.status.value,
        task.owner,
        task.subject,
        task.deleted,
        None if lease is None else lease.until_ms,
        None if lease is None else lease.holder,
        created,
    )


def shortest_prefixes(ids: Iterable[str], minimum: int = SHORT_ID_MIN) -> dict[str, str]:
    """Map each id to its shortest unique prefix of at least ``minimum`` characters.

    With ``minimum`` above two, only ids of the same shard (same first two
    digits) can matter, so shards can be done one at a time.
    """
    ordered = sorted(ids)
    out: dict[str, str] = {}
    for i, ident in enumerate(ordered):
        need = minimum
        for j in (i - 1, i + 1):
            if 0 <= j < len(ordered):
                other = ordered[j]
                common = 0
                limit = min(len(ident), len(other))
                while common < limit and ident[common] == other[common]:
                    common += 1
                need = max(need, common + 1)
        out[ident] = ident[: min(need, len(ident))]
    return out


@dataclass(frozen=True, slots=True)
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


def _reaches(graph: Mapping[str, list[str]], start: str, goal: str) -> bool:
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def derive(raw: RawEdges, live: Callable[[str], bool]) -> Edges:
    """Derive ``blocks``/``blockedBy`` from the edge registers of all tasks.

    Edges switched on between two live tasks are taken in (HLC, session)
    order; one that would close a cycle is left out.
    """
    candidates = []
    for blocked, registers in raw.items():
        if not live(blocked):
            continue
        for blocker, (on, key) in registers.items():
            if on and blocker != blocked and live(blocker):
                candidates.append((key, blocker, blocked))
    candidates.sort()
    graph: dict[str, list[str]] = {}
    blocked_by: dict[str, list[str]] = {}
    ignored = []
    for _, blocker, blocked in candidates:
        if _reaches(graph, blocked, blocker):
            ignored.append((blocker, blocked))
            continue
        graph.setdefault(blocker, []).append(blocked)
        blocked_by.setdefault(blocked, []).append(blocker)
    return Edges(
        {k: tuple(v) for k, v in graph.items()},
        {k: tuple(v) for k, v in blocked_by.items()},
        tuple(ignored),
    )


def raw_edges(partial: Partial) -> dict[str, tuple[bool, Key]]:
    """A resolved task's edge registers, as ``derive`` takes them."""
    return {blocker: (on, stamp.key) for blocker, (on, stamp) in partial.edges.items()}


class RowTable(Mapping[str, Row]):
    """Rows kept as the derived cache stores them, one list per field.

    A ``Row`` is built when asked for: ``show`` needs a handful out of 10k.
    ``values()`` and ``items()`` build them all in one pass with no Python
    call per row -- most of what a warm ``list`` costs.

    Args:
        columns: ``Row``'s first eight fields, then the four of ``created``,
            each a list with an entry per task, in creation order.

    Raises:
        ValueError: when the columns are not twelve lists of one length.
    """

    __slots__ = ("_columns", "_index", "_rows")

    def __init__(self, columns: list[list[Any]]) -> None:
        if len(columns) != 12 or not all(isinstance(c, list) for c in columns):
            raise ValueError("rows need twelve columns")
        self._columns = columns
        self._index = dict(zip(columns[0], range(len(columns[0])), strict=True))
        self._rows: dict[str, Row] | None = None
        if len(self._index) != len(columns[0]) or any(len(c) != len(self._index) for c in columns):
            raise ValueError("rows columns differ in length or repeat an id")

    @staticmethod
    def columns_of(rows: Iterable[Row]) -> list[list[Any]]:
        """The columns that hold ``rows`` (the inverse of the constructor)."""
        columns = [list(c) for c in zip(*(r[:8] + r.created for r in rows), strict=True)]
        return columns or [[] for _ in range(12)]

    def _all(self) -> dict[str, Row]:
        if self._rows is None:
            c = self._columns
            every = zip(*c[:8], zip(*c[8:], strict=True), strict=True)
            with gc_paused():
                self._rows = dict(zip(c[0], map(tuple.__new__, repeat(Row), every), strict=True))
        return self._rows

    def __getitem__(self, task_id: str) -> Row:
        if self._rows is not None:
            return self._rows[task_id]
        i = self._index[task_id]
        c = self._columns
        created = (c[8][i], c[9][i], c[10][i], c[11][i])
        return Row(c[0][i], c[1][i], c[2][i], c[3][i], c[4][i], c[5][i], c[6][i], c[7][i], created)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def values(self) -> ValuesView[Row]:
        return self._all().values()

    def items(self) -> ItemsView[str, Row]:
        return self._all().items()


class LazyTasks(Mapping[str, "Task"]):
    """Tasks by id, in creation order, loaded a shard at a time on first use.

    Args:
        rows: every task's row, in creation order.
        shards: tasks already at hand, by shard, without derived edges.
        load: reads one shard's tasks (without derived edges) from the cache.
        edges: the derived edges to put on each task.
    """

    def __init__(
        self,
        rows: Mapping[str, Row],
        shards: dict[str, dict[str, Task]],
        load: Callable[[str], dict[str, Task]] | None,
        edges: Edges,
    ) -> None:
        self._rows = rows
        self._shards = shards
        self._load = load
        self._edges = edges
        self._done: dict[str, Task] = {}

    def __getitem__(self, task_id: str) -> Task:
        task = self._done.get(task_id)
        if task is not None:
            return task
        if task_id not in self._rows:
            raise KeyError(task_id)
        shard = task_id[:2]
        tasks = self._shards.get(shard)
        if tasks is None:
            if self._load is None:
                raise KeyError(task_id)
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

    def raw(self, shard: str) -> dict[str, Task]:
        """One shard's tasks without derived edges (loading it if needed)."""
        tasks = self._shards.get(shard)
        if tasks is None:
            tasks = {} if self._load is None else self._load(shard)
            self._shards[shard] = tasks
        return tasks


class State:
    """Every task of a list as resolved from the records read so far.

    Attributes:
        rows: id -> row, deleted tasks included, oldest first.
        tasks: id -> task, in the same order (loaded on first use).
        edges: the derived edges.
    """

    __slots__ = ("edges", "rows", "tasks")

    def __init__(self, rows: Mapping[str, Row], tasks: LazyTasks, edges: Edges) -> None:
        self.rows = rows
        self.tasks = tasks
        self.edges = edges

    @classmethod
    def build(cls, partials: Iterable[Partial]) -> State:
        """A state from resolved tasks: order them, derive edges, compute short ids."""
        parts = sorted(partials, key=lambda p: (_created(p.task), p.task.id))
        by_shard: dict[str, dict[str, Task]] = {}
        raw: RawEdges = {}
        for part in parts:
            by_shard.setdefault(part.task.id[:2], {})[part.task.id] = part.task
            if part.edges:
                raw[part.task.id] = raw_edges(part)
        return cls.assemble(by_shard, {}, raw, None)

    @classmethod
    def assemble(
        cls,
        fresh: dict[str, dict[str, Task]],
        rows_elsewhere: Mapping[str, Row],
        raw: RawEdges,
        load: Callable[[str], dict[str, Task]] | None,
    ) -> State:
        """A state from the shards at hand plus the rows of all other shards.

        Args:
            fresh: tasks of the shards resolved here, without derived edges.
            rows_elsewhere: rows of tasks in other shards (the cache's).
            raw: the edge registers of every task.
            load: reads another shard's tasks from the cache.
        """
        rows = {r.id: r for r in rows_elsewhere.values() if r.id[:2] not in fresh}
        for tasks in fresh.values():
            shorts = shortest_prefixes(tasks)
            for task_id, task in tasks.items():
                rows[task_id] = row_of(task, shorts[task_id])
        ordered = dict(sorted(rows.items(), key=lambda kv: (kv[1].created, kv[0])))

        def live(task_id: str) -> bool:
            row = ordered.get(task_id)
            return row is not None and not row.deleted

        edges = derive(raw, live)
        return cls(ordered, LazyTasks(ordered, dict(fresh), load, edges), edges)

    @property
    def ignored_edges(self) -> tuple[tuple[str, str], ...]:
        """``(blocker, blocked)`` edges left out to break cycles."""
        return self.edges.ignored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return (
            self.rows == other.rows
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
        if not key or not _HEX_RE.fullmatch(key):
            raise NotFound(f"no task matches {ref!r}")
        found = [self.rows[task_id] for task_id in self.rows if task_id.startswith(key)]
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
        return tuple(b for b in self.blocked_by(task.id) if self.rows[b].status != _COMPLETED)

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


def _created(task: Task) -> Key:
    return task.created.key if task.created is not None else (0, 0, "", "")
