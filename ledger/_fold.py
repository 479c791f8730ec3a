"""Pure folds: a task map's contents -> a resolved task; all edges -> blocks/blockedBy.

``resolve_task`` picks, for every field, the write with the greatest
(HLC, session) among the writers' entries (``_doc`` describes the keys); the
losers stay in the document. ``derive`` turns the edge registers stored on
every task into ``blocks``/``blockedBy``, so the two can never disagree; when
concurrent writes made edges close a cycle, every replica drops the same one:
the latest by (HLC, session).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _json
from ._entries import DESCRIPTION, NOTES, stamp_of
from ._ids import is_task_id
from ._model import SCALAR_FIELDS, Json, Lease, Note, Partial, Stamp, Status, Task, sorted_pairs
from ._state import Edges, Key

_STATUSES = {s.value: s for s in Status}
Winner = tuple[Json, Stamp]


class Memo:
    """Parsed entries and notes by their raw text: a task's entries change one
    at a time, so re-resolving it after an op parses only what is new.

    Args:
        limit: forget everything once this many texts are remembered.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._entries: dict[tuple[str, str], Winner | None] = {}
        self._notes: dict[str, tuple[str, Stamp] | None] = {}

    def entry(self, raw: Json, writer: str) -> Winner | None:
        """``parse_entry``, remembered."""
        if type(raw) is not str:
            return None
        key = (raw, writer)
        found = self._entries.get(key, self)
        if found is not self:
            return found  # type: ignore[return-value]
        if len(self._entries) >= self.limit:
            self._entries.clear()
        parsed = self._entries[key] = parse_entry(raw, writer)
        return parsed

    def note(self, raw: Json) -> tuple[str, Stamp] | None:
        """``parse_note``, remembered."""
        if type(raw) is not str:
            return None
        found = self._notes.get(raw, self)
        if found is not self:
            return found  # type: ignore[return-value]
        if len(self._notes) >= self.limit:
            self._notes.clear()
        parsed = self._notes[raw] = parse_note(raw)
        return parsed


def _items(raw: str, length: int) -> list[Any] | None:
    try:
        items = _json.loads(raw)
    except ValueError:
        return None
    return items if type(items) is list and len(items) == length else None


def parse_entry(raw: object, writer: str) -> Winner | None:
    """Decode an entry written by ``writer``; None when it is malformed."""
    if type(raw) is not str:
        return None
    items = _items(raw, 6)
    stamp = None if items is None else stamp_of(items, writer)
    return None if stamp is None or items is None else (items[0], stamp)


def parse_note(raw: object) -> tuple[str, Stamp] | None:
    """Decode a note; None when it is malformed."""
    if type(raw) is not str:
        return None
    items = _items(raw, 7)
    if items is None or type(items[0]) is not str or type(items[6]) is not str:
        return None
    stamp = stamp_of(items, items[6])
    return None if stamp is None else (items[0], stamp)


def _winner(table: dict[str, Winner], name: str, won: Winner) -> None:
    current = table.get(name)
    if current is None or won[1].key > current[1].key:
        table[name] = won


def _str(value: Json) -> str:
    return value if type(value) is str else ""


def _registers(
    raw: Mapping[str, Any], memo: Memo
) -> tuple[Stamp | None, Stamp | None, dict[str, Winner], dict[str, Winner], dict[str, Winner]]:
    """Sort a task map's keys into created, updated and the three register tables."""
    created: Stamp | None = None
    updated: Stamp | None = None
    scalars: dict[str, Winner] = {}
    meta: dict[str, Winner] = {}
    edges: dict[str, Winner] = {}
    tables = {"f:": scalars, "m:": meta, "b:": edges}
    for key, val in raw.items():
        kind = key[:2]
        if kind == "c:" or kind == "u:":
            parsed = memo.entry(val, key[2:])
            if parsed is None:
                continue
            stamp = parsed[1]
            if kind == "c:":
                if created is None or stamp.key < created.key:
                    created = stamp
            elif updated is None or stamp.key > updated.key:
                updated = stamp
            continue
        table = tables.get(kind)
        if table is None:
            continue
        name, _, writer = key[2:].rpartition(":")
        if kind == "b:" and not is_task_id(name):
            continue
        parsed = memo.entry(val, writer)
        if parsed is not None:
            _winner(table, name, parsed)
    return created, updated, scalars, meta, edges


def _notes(raw: Json, memo: Memo) -> list[Note]:
    notes = []
    if type(raw) is list:
        for item in raw:
            note = memo.note(item)
            if note is not None:
                notes.append(Note(note[0], note[1]))
    notes.sort(key=lambda n: n.stamp.key)
    return notes


def _native(value: Json) -> tuple[str, str] | None:
    """The (machine, number) Claude Code gave a task, if it did."""
    if type(value) is list and len(value) == 2:
        machine, number = value
        if type(machine) is str and type(number) is str:
            return machine, number
    return None


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
    if type(raw) is not dict:
        return None
    memo = Memo(0) if memo is None else memo
    created, updated, scalars, meta, edges = _registers(raw, memo)
    if created is None:
        return None
    notes = _notes(raw.get(NOTES), memo)

    def scalar(name: str) -> Json:
        won = scalars.get(name)
        return None if won is None else won[0]

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
        status=_STATUSES.get(_str(scalar("status")), Status.PENDING),
        owner=_str(scalar("owner")),
        metadata=sorted_pairs((k, won[0]) for k, won in meta.items() if won[0] is not None),
        notes=tuple(notes),
        deleted=scalar("deleted") is True,
        created=created,
        updated=updated,
        provenance=tuple(sorted(provenance, key=lambda p: p[0])),
        lease=lease,
        native=_native(scalar("native")),
    )
    return Partial(task, {k: (won[0] is True, won[1].key) for k, won in edges.items()})


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


def derive(raw: Mapping[str, Mapping[str, tuple[bool, Key]]], live: Callable[[str], bool]) -> Edges:
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
