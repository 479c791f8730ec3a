"""From the documents' raw contents to resolved tasks: a pure function.

``resolve_task`` picks, for every field, the write with the greatest
(HLC, session) among the writers' entries (``_schema``). ``State.build``
then derives ``blocks``/``blockedBy`` from the edges of all live tasks, so
the two can never disagree, dropping -- deterministically, on every replica
-- the latest edge of any cycle that concurrent writes created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from ._errors import Ambiguous, NotFound
from ._model import SCALAR_FIELDS, Json, Lease, Note, Stamp, Status, Task, sorted_pairs
from ._schema import DESCRIPTION, NOTES, parse_entry, parse_note

_STATUSES = {s.value: s for s in Status}
_HEX_RE = re.compile(r"[0-9a-f]+")
_TASK_ID_RE = re.compile(r"[0-9a-f]{16}")


def is_task_id(value: str) -> bool:
    """Tell whether a string is a full task id (16 lowercase hex digits)."""
    return bool(_TASK_ID_RE.fullmatch(value))


SHORT_ID_MIN = 4

Winner = tuple[Json, Stamp]


@dataclass(slots=True)
class Partial:
    """A task resolved on its own, before edges between tasks are derived.

    Attributes:
        task: the task with empty ``blocks``/``blocked_by``.
        edges: blocker id -> (on, stamp) for every edge stored on this task.
    """

    task: Task
    edges: dict[str, tuple[bool, Stamp]]


def _winner(table: dict[str, Winner], name: str, value: Json, stamp: Stamp) -> None:
    current = table.get(name)
    if current is None or stamp.key > current[1].key:
        table[name] = (value, stamp)


def _str(value: Json) -> str:
    return value if isinstance(value, str) else ""


class Memo:
    """Parsed entries and notes by their raw text: a task's entries change one
    at a time, so re-resolving it after an op parses only what is new.

    Args:
        limit: forget everything once this many texts are remembered.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._entries: dict[tuple[str, str], tuple[Json, Stamp] | None] = {}
        self._notes: dict[str, tuple[str, Stamp] | None] = {}

    def entry(self, raw: Json, writer: str) -> tuple[Json, Stamp] | None:
        """``parse_entry``, remembered."""
        if not isinstance(raw, str):
            return None
        key = (raw, writer)
        try:
            return self._entries[key]
        except KeyError:
            pass
        if len(self._entries) > self.limit:
            self._entries.clear()
        found = self._entries[key] = parse_entry(raw, writer)
        return found

    def note(self, raw: Json) -> tuple[str, Stamp] | None:
        """``parse_note``, remembered."""
        if not isinstance(raw, str):
            return None
        try:
            return self._notes[raw]
        except KeyError:
            pass
        if len(self._notes) > self.limit:
            self._notes.clear()
        found = self._notes[raw] = parse_note(raw)
        return found


_NO_MEMO_LIMIT = 0


def resolve_task(task_id: str, raw: Json, memo: Memo | None = None) -> Partial | None:
    """Resolve one task map's contents.

    Args:
        task_id: the task's id.
        raw: the task map exported as JSON.
        memo: remembered parses, for callers that resolve the same task often.

    Returns:
        The resolved task, or None when the map has no creation entry (it
        was never created; nothing shows it).
    """
    if not isinstance(raw, dict):
        return None
    memo = Memo(_NO_MEMO_LIMIT) if memo is None else memo
    created: Stamp | None = None
    updated: Stamp | None = None
    scalars: dict[str, Winner] = {}
    meta: dict[str, Winner] = {}
    edges: dict[str, Winner] = {}
    for key, val in raw.items():
        kind = key[:2]
        rest = key[2:]
        if kind in ("c:", "u:"):
            parsed = memo.entry(val, rest)
            if parsed is None:
                continue
            stamp = parsed[1]
            if kind == "c:":
                if created is None or stamp.key < created.key:
                    created = stamp
            elif updated is None or stamp.key > updated.key:
                updated = stamp
            continue
        if kind == "f:":
            table = scalars
        elif kind == "m:":
            table = meta
        elif kind == "b:":
            table = edges
        else:
            continue
        name, _, writer = rest.rpartition(":")
        if kind == "b:" and not is_task_id(name):
            continue
        parsed = memo.entry(val, writer)
        if parsed is not None:
            _winner(table, name, parsed[0], parsed[1])
    if created is None:
        return None
    notes = []
    raw_notes = raw.get(NOTES)
    if isinstance(raw_notes, list):
        for item in raw_notes:
            note = memo.note(item)
            if note is not None:
                notes.append(Note(note[0], note[1]))
    notes.sort(key=lambda n: n.stamp.key)

    def scalar(name: str) -> Json:
        won = scalars.get(name)
        return None if won is None else won[0]

    status = _STATUSES.get(_str(scalar("status")), Status.PENDING)
    lease = None
    won_lease = scalars.get("lease")
    if won_lease is not None and type(won_lease[0]) is int:
        lease = Lease(won_lease[1].session, won_lease[0], won_lease[1])
    provenance = [(name, won[1]) for name, won in scalars.items() if name in SCALAR_FIELDS]
    provenance += [(f"metadata.{k}", won[1]) for k, won in meta.items()]
    provenance += [(f"blockedBy.{k}", won[1]) for k, won in edges.items()]
    if updated is None or updated.key < created.key:
        updated = created
    task = Task(
        id=task_id,
        subject=_str(scalar("subject")),
        description=_str(raw.get(DESCRIPTION)),
        active_form=_str(scalar("activeForm")),
        status=status,
        owner=_str(scalar("owner")),
        metadata=sorted_pairs((k, won[0]) for k, won in meta.items() if won[0] is not None),
        notes=tuple(notes),
        deleted=scalar("deleted") is True,
        created=created,
        updated=updated,
        provenance=tuple(sorted(provenance, key=lambda p: p[0])),
        lease=lease,
    )
    return Partial(task, {k: (won[0] is True, won[1]) for k, won in edges.items()})


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


def shortest_prefixes(ids: Iterable[str], minimum: int = SHORT_ID_MIN) -> dict[str, str]:
    """Map each id to its shortest unique prefix of at least ``minimum`` characters."""
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
class State:
    """Every task of a list as resolved from the records read so far.

    Attributes:
        tasks: id -> task, deleted ones included, oldest first.
        ignored_edges: ``(blocker, blocked)`` edges left out because
            concurrent writes made them close a cycle.
    """

    tasks: Mapping[str, Task]
    ignored_edges: tuple[tuple[str, str], ...] = ()
    _short: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, partials: Iterable[Partial]) -> State:
        """Derive edges across tasks and order tasks oldest first."""
        parts = sorted(partials, key=lambda p: (_created_key(p.task), p.task.id))
        live = {p.task.id for p in parts if not p.task.deleted}
        candidates: list[tuple[tuple[int, int, str, str], str, str]] = []
        for part in parts:
            blocked = part.task.id
            if blocked not in live:
                continue
            for blocker, (on, stamp) in part.edges.items():
                if on and blocker in live and blocker != blocked:
                    candidates.append((stamp.key, blocker, blocked))
        candidates.sort()
        graph: dict[str, list[str]] = {}
        blocks: dict[str, list[str]] = {}
        blocked_by: dict[str, list[str]] = {}
        ignored = []
        for _, blocker, blocked in candidates:
            if _reaches(graph, blocked, blocker):
                ignored.append((blocker, blocked))
                continue
            graph.setdefault(blocker, []).append(blocked)
            blocks.setdefault(blocker, []).append(blocked)
            blocked_by.setdefault(blocked, []).append(blocker)
        tasks: dict[str, Task] = {}
        for part in parts:
            task = part.task
            ident = task.id
            if ident in blocks or ident in blocked_by:
                task = replace(
                    task,
                    blocks=tuple(blocks.get(ident, ())),
                    blocked_by=tuple(blocked_by.get(ident, ())),
                )
            tasks[ident] = task
        return cls(tasks, tuple(ignored))

    def live(self) -> Iterator[Task]:
        """Tasks that are not deleted, oldest first."""
        return (t for t in self.tasks.values() if not t.deleted)

    def short(self, task_id: str) -> str:
        """The shortest unique prefix (at least 4 characters) of an id."""
        if not self._short:
            self._short.update(shortest_prefixes(self.tasks))
        return self._short.get(task_id, task_id)

    def find(self, ref: str) -> Task:
        """Resolve a full id or unique prefix (deleted tasks included).

        Raises:
            NotFound: when nothing matches.
            Ambiguous: when several tasks match, listing them.
        """
        key = ref.strip().lower()
        task = self.tasks.get(key)
        if task is not None:
            return task
        if not key or not _HEX_RE.fullmatch(key):
            raise NotFound(f"no task matches {ref!r}")
        found = [t for t in self.tasks.values() if t.id.startswith(key)]
        if not found:
            raise NotFound(f"no task matches {ref!r}")
        if len(found) > 1:
            live = [t for t in found if not t.deleted]
            if len(live) == 1:
                return live[0]
            raise Ambiguous(ref, tuple(sorted(t.id for t in found)))
        return found[0]

    def is_ready(self, task: Task, now_ms: int) -> bool:
        """Ready to start: every blocker completed, and pending and unowned, or its lease ran out.

        A task whose claim's lease expired is claimable again, whatever
        status and owner its holder left on it (unless completed).
        """
        if task.deleted or task.status is Status.COMPLETED:
            return False
        if not all(self.tasks[b].status is Status.COMPLETED for b in task.blocked_by):
            return False
        if task.lease is not None:
            return not task.lease.live(now_ms)
        return task.status is Status.PENDING and not task.owner

    def open_blockers(self, task: Task) -> tuple[str, ...]:
        """The task's blockers that are not completed."""
        return tuple(b for b in task.blocked_by if self.tasks[b].status is not Status.COMPLETED)


def _created_key(task: Task) -> tuple[int, int, str, str]:
    return task.created.key if task.created is not None else (0, 0, "", "")
