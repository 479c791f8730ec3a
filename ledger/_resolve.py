"""From a task map's raw contents to a resolved task: a pure function.

``resolve_task`` picks, for every field, the write with the greatest
(HLC, session) among the writers' entries (``_schema``); the losers stay in
the document. Edges between tasks are derived later, over all tasks
(``_state``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._model import SCALAR_FIELDS, Json, Lease, Note, Stamp, Status, Task, sorted_pairs
from ._paths import is_task_id
from ._schema import DESCRIPTION, NOTES, parse_entry, parse_note

_STATUSES = {s.value: s for s in Status}
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


_NO_MEMO_LIMIT = 0  # a memo for one call only: remember nothing


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
