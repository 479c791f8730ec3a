"""Frozen value types: what the ledger stores, replays and returns.

Nothing here does I/O or imports pycrdt; these are the words every other
module speaks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from ._datatype import datatype, field
from ._timeparse import iso_ms

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"


class Status(enum.StrEnum):
    """A task's workflow status (Claude Code's three)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class OpKind(enum.StrEnum):
    """The kind of an appended operation."""

    CREATE = "create"
    UPDATE = "update"
    CLAIM = "claim"
    RELEASE = "release"
    NOTE = "note"
    DELETE = "delete"


#: Last-writer-wins fields of a task, by their Claude Code names, plus
#: ``deleted`` (the tombstone), ``lease`` (a claim's end, epoch ms) and
#: ``native`` ([machine, number]: the number Claude Code gave a task it made).
SCALAR_FIELDS = ("subject", "activeForm", "status", "owner", "deleted", "lease", "native")


@datatype(frozen=True, order=True)
class Hlc:
    """A hybrid logical clock reading: wall milliseconds plus a counter.

    Orders like the pair ``(ms, counter)``. A writer's next reading is always
    greater than every reading it has seen, so an edit made after seeing
    another one sorts after it even when the wall clock is behind.
    """

    ms: int
    counter: int = 0

    def tick(self, now_ms: int) -> Hlc:
        """Return the next reading after this one, given the wall clock.

        Args:
            now_ms: the current wall-clock time in milliseconds.

        Returns:
            ``(now_ms, 0)`` when the wall clock is ahead, else this reading's
            milliseconds with the counter advanced (or, at the counter's
            limit, the next millisecond). Never a reading a reader refuses.
        """
        if now_ms > self.ms:
            return Hlc(min(now_ms, MAX_HLC_MS - 1), 0)
        if self.counter + 1 < MAX_COUNTER:
            return Hlc(self.ms, self.counter + 1)
        return Hlc(self.ms + 1, 0)

    def to_json(self) -> list[int]:
        """Return the ``[ms, counter]`` pair stored in records."""
        return [self.ms, self.counter]

    def __str__(self) -> str:
        return f"{iso_ms(self.ms)}+{self.counter}"


HLC_ZERO = Hlc(0, 0)
#: readers refuse HLCs at or beyond these (JSON numbers stay exact below 2**53)
MAX_HLC_MS = 1 << 53
MAX_COUNTER = 1 << 32


@datatype(frozen=True)
class Stamp:
    """Who wrote something, and when.

    Attributes:
        hlc: the hybrid logical clock of the op.
        session: the session that wrote it.
        writer: the writer (log file and pycrdt client) that appended it.
        seq: the writer's sequence number of the op.
        wall_ms: the writer's wall clock when it appended the op.
    """

    hlc: Hlc
    session: str
    writer: str
    seq: int
    wall_ms: int

    @property
    def key(self) -> tuple[int, int, str, str]:
        """The total order of writes: (HLC, session), writer as last resort."""
        return (self.hlc.ms, self.hlc.counter, self.session, self.writer)

    @property
    def ref(self) -> str:
        """A short reference to the op, ``<writer>:<seq>``."""
        return f"{self.writer}:{self.seq}"

    @property
    def at(self) -> str:
        """The wall-clock time as ISO 8601."""
        return iso_ms(self.wall_ms)

    def to_json(self) -> dict[str, Json]:
        """Return the stamp as a JSON object."""
        return {
            "at": self.at,
            "session": self.session,
            "writer": self.writer,
            "seq": self.seq,
            "hlc": [self.hlc.ms, self.hlc.counter],
        }


@datatype(frozen=True)
class Change:
    """One field's change as the writer saw it.

    Attributes:
        old: the value the writer saw before its write (None when unset).
        new: the value written (None unsets a metadata key).
        base: ``<writer>:<seq>`` of the write whose value the writer saw as
            current, or None. A write whose base is an earlier write *saw* it;
            ``conflicts`` uses this to tell overwrites from races.
    """

    old: Json
    new: Json
    base: str | None = None

    def to_json(self) -> dict[str, Json]:
        """Return the readable form stored in records."""
        out: dict[str, Json] = {"old": self.old, "new": self.new}
        if self.base is not None:
            out["base"] = self.base
        return out

    @classmethod
    def from_json(cls, raw: object) -> Change:
        """Parse the readable form; raise ValueError when it is malformed."""
        if not isinstance(raw, dict) or "new" not in raw:
            raise ValueError("change is not an object with 'new'")
        base = raw.get("base")
        if base is not None and not isinstance(base, str):
            raise ValueError("change base is not a string")
        return cls(raw.get("old"), raw["new"], base)


Pairs: TypeAlias = tuple[tuple[str, Change], ...]


def _pairs_json(pairs: Pairs) -> dict[str, Json]:
    return {k: c.to_json() for k, c in pairs}


def _pairs_from(raw: object, what: str) -> Pairs:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ValueError(f"{what} is not an object")
    return tuple((str(k), Change.from_json(v)) for k, v in raw.items())


@datatype(frozen=True)
class Op:
    """One operation: the readable description of what a record changes.

    The replayer merges the record's pycrdt updates; this is the same change
    in words, for the audit trail, conflicts and verification.

    Attributes:
        kind: create, update, claim, release, note or delete.
        task: the id of the task the op is about.
        fields: changes to last-writer-wins fields (``subject``, ``activeForm``,
            ``status``, ``owner``, ``deleted``).
        description: old and new description text, when it changed.
        metadata: changes to metadata keys (new None removes the key).
        blocked_by: edges ``blocker -> task`` switched on (True) or off (False).
        blocks: edges ``task -> other`` switched on or off.
        note: the text of a note appended to the task.
    """

    kind: OpKind
    task: str
    fields: Pairs = ()
    description: Change | None = None
    metadata: Pairs = ()
    blocked_by: Pairs = ()
    blocks: Pairs = ()
    note: str | None = None

    @classmethod
    def if_any(
        cls, kind: OpKind, task: str, fields: Sequence[tuple[str, Change]],
        description: Change | None, metadata: Pairs, blocked_by: Pairs, blocks: Pairs,
    ) -> Op | None:  # fmt: skip
        """The op of these changes, or None when there are none."""
        if not (fields or description or metadata or blocked_by or blocks):
            return None
        return cls(kind, task, fields=tuple(fields), description=description,
                   metadata=metadata, blocked_by=blocked_by, blocks=blocks)  # fmt: skip

    def field(self, name: str) -> Change | None:
        """Return the change to one scalar field, if the op makes one."""
        for key, change in self.fields:
            if key == name:
                return change
        return None

    def to_readable(self) -> dict[str, Json]:
        """Return the ``fields`` object stored in the record."""
        out: dict[str, Json] = {k: c.to_json() for k, c in self.fields}
        if self.description is not None:
            out["description"] = self.description.to_json()
        if self.metadata:
            out["metadata"] = _pairs_json(self.metadata)
        if self.blocked_by:
            out["blockedBy"] = _pairs_json(self.blocked_by)
        if self.blocks:
            out["blocks"] = _pairs_json(self.blocks)
        if self.note is not None:
            out["note"] = self.note
        return out

    @classmethod
    def from_readable(cls, kind: str, task: str, raw: object) -> Op:
        """Parse a record's ``op``, ``task`` and ``fields``.

        Raises:
            ValueError: when any part is malformed.
        """
        if not isinstance(raw, dict):
            raise ValueError("fields is not an object")
        known = {*SCALAR_FIELDS, "description", "metadata", "blockedBy", "blocks", "note"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        note = raw.get("note")
        if note is not None and not isinstance(note, str):
            raise ValueError("note is not a string")
        desc = raw.get("description")
        return cls(
            kind=OpKind(kind),
            task=task,
            fields=tuple((k, Change.from_json(raw[k])) for k in SCALAR_FIELDS if k in raw),
            description=None if desc is None else Change.from_json(desc),
            metadata=_pairs_from(raw.get("metadata"), "metadata"),
            blocked_by=_pairs_from(raw.get("blockedBy"), "blockedBy"),
            blocks=_pairs_from(raw.get("blocks"), "blocks"),
            note=note,
        )


@datatype(frozen=True)
class Lease:
    """A claim's lease as the logs record it.

    Attributes:
        holder: the session that claimed (or last renewed) the task.
        until_ms: when the lease ends, epoch milliseconds.
        stamp: the op that set it.
    """

    holder: str
    until_ms: int
    stamp: Stamp

    def live(self, now_ms: int) -> bool:
        """True while the lease has not run out."""
        return self.until_ms > now_ms

    @property
    def until(self) -> str:
        """The end of the lease as ISO 8601."""
        return iso_ms(self.until_ms)


@datatype(frozen=True)
class Note:
    """A note (handoff text) appended to a task."""

    text: str
    stamp: Stamp


@datatype(frozen=True)
class Task:
    """A task as every reader that has read the same records sees it.

    Attributes:
        id: the full task id (16 hex digits).
        subject: one-line title.
        description: free text, merged character by character.
        active_form: the present-continuous form shown while in progress.
        status: pending, in_progress or completed.
        owner: the session (or person) that owns the task, or "".
        blocks: ids of live tasks this one blocks (derived from edges).
        blocked_by: ids of live tasks that block this one (derived from edges).
        metadata: sorted ``(key, value)`` pairs.
        notes: notes in HLC order.
        deleted: True for a tombstone.
        created: who created the task and when.
        updated: the latest op that touched the task.
        provenance: for each set field, the stamp of the write that won.
        lease: the claim lease, when the task was claimed and not released
            (it may have run out: see ``holder``).
        native: ``(machine, number)`` for a task Claude Code created in the
            folder of that machine, which keeps showing it by that number.
    """

    id: str
    subject: str
    description: str = ""
    active_form: str = ""
    status: Status = Status.PENDING
    owner: str = ""
    blocks: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()
    metadata: tuple[tuple[str, Json], ...] = ()
    notes: tuple[Note, ...] = ()
    deleted: bool = False
    created: Stamp | None = None
    updated: Stamp | None = None
    provenance: tuple[tuple[str, Stamp], ...] = field(default=())
    lease: Lease | None = None
    native: tuple[str, str] | None = None

    def holder(self, now_ms: int) -> str | None:
        """The session holding the task under a live lease at ``now_ms``, if any.

        A completed or deleted task is held by nobody.
        """
        lease = self.lease
        if lease is None or self.deleted or self.status is Status.COMPLETED:
            return None
        return lease.holder if lease.live(now_ms) else None

    def base_of(self, name: str) -> str | None:
        """``<writer>:<seq>`` of the write a field's value came from (None: never set)."""
        for key, stamp in self.provenance:
            if key == name:
                return stamp.ref
        return None

    def meta(self) -> dict[str, Json]:
        """Return the metadata as a dict."""
        return dict(self.metadata)


def sorted_pairs(
    items: Iterable[tuple[str, Json]] | Mapping[str, Json],
) -> tuple[tuple[str, Json], ...]:
    """Return ``(key, value)`` pairs sorted by key (a stable metadata order)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    return tuple(sorted(pairs, key=lambda kv: kv[0]))


@datatype
class Partial:
    """A task resolved on its own, before edges between tasks are derived.

    Attributes:
        task: the task with empty ``blocks``/``blocked_by``.
        edges: blocker id -> (on, key of the winning write) for every edge
            stored on this task.
    """

    task: Task
    edges: dict[str, tuple[bool, tuple[int, int, str, str]]]
