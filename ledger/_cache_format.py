"""The cache's storage format: its values as JSON, and the head that names its files.

Domain values (tasks, stamps, rows) are written compactly -- rows column by
column, so that reading 100k of them is a handful of C-speed checks -- and
read back strictly: anything malformed raises (a value) or reads as None (a
head), and the reader then drops the cache and replays the logs
(``_snapshot``). Nothing here touches a file.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from itertools import repeat
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._datatype import datatype
from ._errors import CacheBroken
from ._json import dumps_bytes, loads
from ._state import Key, Row

if TYPE_CHECKING:  # a read answered from the rows never loads the model
    from ._model import Partial, Stamp, Task

VERSION = 8
_SHARD = re.compile(r"[0-9a-f]{2}")
_SHARD_TOKEN = re.compile(r"[0-9a-f]{16}")  # crc32 of the snapshot, then of the tasks
TOKEN = re.compile(r"[0-9a-f]{12}")
_TASK = _SHARD_TOKEN  # (a task id is 16 hex digits too)


@datatype(frozen=True)
class LogMark:
    """Where a snapshot stopped reading one log, and the file as it was then.

    Attributes:
        ino: the file's inode (-1: the file was gone).
        size: its size.
        mtime_ns: its mtime (-1: it grew while being read).
        offset: the byte offset read to (before a torn tail).
        line: the next line number.
        last: sha256 of the line that ends at ``offset`` (genesis for none).
    """

    ino: int
    size: int
    mtime_ns: int
    offset: int
    line: int
    last: str


# ------------------------------------------------------------ values <-> JSON


def _stamp_out(s: Stamp | None) -> list[Any] | None:
    if s is None:
        return None
    return [s.hlc.ms, s.hlc.counter, s.session, s.writer, s.seq, s.wall_ms]


class _Stamps:
    """Stamps read from one task's JSON: its creation stamp is usually also its last
    one and every field's, so each distinct stamp is made once."""

    __slots__ = ("_made", "_model")

    def __init__(self, model: ModuleType) -> None:
        self._model = model
        self._made: dict[tuple[Any, ...], Stamp] = {}

    def maybe(self, raw: list[Any] | None) -> Stamp | None:
        return None if raw is None else self(raw)

    def __call__(self, raw: list[Any]) -> Stamp:
        key = tuple(raw)  # (a stamp's six scalars; anything else is refused below)
        found = self._made.get(key)
        if found is None:
            ms, counter, session, writer, seq, wall = raw
            hlc = self._model.Hlc(int(ms), int(counter))
            found = self._model.Stamp(hlc, str(session), str(writer), int(seq), int(wall))
            self._made[key] = found
        return found


def partial_out(p: Partial) -> dict[str, Any]:
    """A resolved task (without derived edges) and its edge registers, as JSON."""
    t = p.task
    return {
        "id": t.id,
        "s": t.subject,
        "d": t.description,
        "a": t.active_form,
        "st": t.status.value,
        "o": t.owner,
        "m": [[k, v] for k, v in t.metadata],
        "n": [[n.text, _stamp_out(n.stamp)] for n in t.notes],
        "x": t.deleted,
        "c": _stamp_out(t.created),
        "u": _stamp_out(t.updated),
        "p": [[k, _stamp_out(s)] for k, s in t.provenance],
        "l": None if t.lease is None else [t.lease.until_ms, _stamp_out(t.lease.stamp)],
        "e": [[b, on, *key] for b, (on, key) in p.edges.items()],
        "nv": None if t.native is None else list(t.native),
    }


def partial_in(raw: dict[str, Any]) -> Partial:
    """A resolved task from JSON (raises on anything malformed).

    The model is imported here, the first time a task is read from a
    snapshot: a command answered from the rows alone never loads it.
    """
    from . import _model as m

    stamp = _Stamps(m)
    lease = None
    if raw["l"] is not None:
        until, held = raw["l"]
        lease = m.Lease(stamp(held).session, int(until), stamp(held))
    task = m.Task(
        id=str(raw["id"]),
        subject=str(raw["s"]),
        description=str(raw["d"]),
        active_form=str(raw["a"]),
        status=m.Status(raw["st"]),
        owner=str(raw["o"]),
        metadata=tuple((str(k), v) for k, v in raw["m"]),
        notes=tuple(m.Note(str(text), stamp(s)) for text, s in raw["n"]),
        deleted=raw["x"] is True,
        created=stamp.maybe(raw["c"]),
        updated=stamp.maybe(raw["u"]),
        provenance=tuple((str(k), stamp(s)) for k, s in raw["p"]),
        lease=lease,
        native=None if raw["nv"] is None else (str(raw["nv"][0]), str(raw["nv"][1])),
    )
    edges = {str(b): (on is True, key_in(key)) for b, on, *key in raw["e"]}
    return m.Partial(task, edges)


class Partials(MutableMapping[str, "Partial"]):
    """One shard's resolved tasks, each read from the cache's JSON only when asked.

    A catch-up that changes 2 of a shard's 40 tasks reads those 2 (and a
    snapshot written after it copies the other 38 through as they were
    read); whoever asks for a task whose JSON is malformed gets
    ``CacheBroken``, as from any other damaged cache file. Each task's JSON
    is encoded once and kept until the task changes: a long-lived process
    that saves every second encodes only the tasks changed since the last save.
    """

    __slots__ = ("_bytes", "_items")

    def __init__(
        self,
        items: dict[str, Partial | dict[str, Any] | bytes] | None = None,
        encoded: dict[str, bytes] | None = None,
    ) -> None:
        #: each task resolved, or as its JSON (parsed, or its text: parsed when asked)
        self._items: dict[str, Partial | dict[str, Any] | bytes] = {} if items is None else items
        self._bytes: dict[str, bytes] = {} if encoded is None else encoded

    def __getitem__(self, task_id: str) -> Partial:
        found = self._items[task_id]
        if isinstance(found, (dict, bytes)):
            try:
                raw = loads(found, depth=None) if isinstance(found, bytes) else found
                found = partial_in(raw)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise CacheBroken(f"task {task_id} in the cache: {exc!r}") from exc
            if found.task.id != task_id:
                raise CacheBroken(f"task {task_id} in the cache names another id")
            self._items[task_id] = found
        return found

    def __setitem__(self, task_id: str, part: Partial) -> None:
        if self._items.get(task_id) is not part:
            self._bytes.pop(task_id, None)
        self._items[task_id] = part

    def __delitem__(self, task_id: str) -> None:
        del self._items[task_id]
        self._bytes.pop(task_id, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def tasks(self) -> dict[str, Task]:
        """Every task (without derived edges), read where not read yet."""
        return {
            task_id: (self[task_id] if isinstance(p, (dict, bytes)) else p).task
            for task_id, p in self._items.items()
        }

    def copy(self) -> Partials:
        """A copy that shares the tasks (they are immutable), read or not."""
        return Partials(dict(self._items), dict(self._bytes))

    def out(self) -> list[bytes]:
        """Every task as the cache's JSON text (the ones never read, as they were read)."""
        done = self._bytes
        for task_id, p in self._items.items():
            if task_id not in done:
                done[task_id] = (
                    p if isinstance(p, bytes)
                    else dumps_bytes(p if isinstance(p, dict) else partial_out(p))
                )  # fmt: skip
        return [done[task_id] for task_id in self._items]

    @classmethod
    def of(cls, parts: Mapping[str, Partial]) -> Partials:
        """``parts`` as ``Partials``: itself when it is (so the JSON it encodes stays)."""
        return parts if isinstance(parts, Partials) else cls(dict(parts))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while building big acyclic data."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def key_in(raw: list[Any]) -> Key:
    ms, counter, session, writer = raw
    return (int(ms), int(counter), str(session), str(writer))


_ROW_COLUMNS = 13


def rows_out(rows: Iterable[Row]) -> list[list[Any]]:
    """Rows as columns: the first nine fields, then the four of ``created``."""
    columns = [list(c) for c in zip(*(r[:9] + r.created for r in rows), strict=True)]
    return columns or [[] for _ in range(_ROW_COLUMNS)]


#: the types each column may hold
_STR = frozenset({str})
_COLUMN_TYPES: tuple[frozenset[type], ...] = (
    *(_STR,) * 5,
    frozenset({bool}),
    frozenset({int, type(None)}),
    frozenset({str, type(None)}),
    frozenset({int}),
    frozenset({int}),
    frozenset({int}),
    _STR,
    _STR,
)
_HEX = "0123456789abcdef"  # (an id: sixteen of these)


def rows_in(columns: list[list[Any]]) -> list[Row]:
    """Rows from columns (raises ValueError when malformed).

    A list of 100k tasks is read on every ``list``, so the checks are column
    at a time, at C speed: each column's types, and every id in one match.
    """
    if len(columns) != _ROW_COLUMNS or not all(type(c) is list for c in columns):
        raise ValueError("rows need thirteen columns")
    if len({len(c) for c in columns}) > 1:
        raise ValueError("rows columns differ in length")
    c = columns
    if not c[0]:
        return []
    for column, allowed in zip(c, _COLUMN_TYPES, strict=True):
        if allowed is _STR:
            try:
                joined = "".join(column)  # (str only, else TypeError: faster than types)
            except TypeError:
                raise ValueError("a malformed row") from None
            if column is c[0] and (set(map(len, column)) != {16} or joined.strip(_HEX)):
                raise ValueError("a row with a malformed id")
        elif not set(map(type, column)) <= allowed:
            raise ValueError("a malformed row")
    every = zip(*c[:9], zip(*c[9:], strict=True), strict=True)
    return list(map(tuple.__new__, repeat(Row), every))


# ---------------------------------------------------------------------- head


@datatype
class Head:
    """What the cache covers and where it is.

    Attributes:
        logs: per log, where the replay stopped and the file as it was.
        writers: per writer, the highest seq accepted.
        heads: per log, its last record's seq and digest.
        pending: records held back behind gaps.
        rejected: refs of records pycrdt refused entirely.
        shards: shard -> token of its files.
        rows: tokens of the rows segments, oldest first.
        delta_rows: how many rows the deltas hold.
        edges: token of the edges file.
        aliases: task id -> its number in this machine's Claude Code folder.
        unviewed: tasks whose files the writers of what the head covers may not
            have brought in line (a reader looks at them; see ``_after_write``).
    """

    logs: dict[str, LogMark]
    writers: dict[str, tuple[int, int, int]]
    heads: list[tuple[str, int, str]]
    pending: list[tuple[str, int, bytes]]
    rejected: set[str]
    shards: dict[str, str]
    rows: list[str]
    delta_rows: int
    edges: str
    aliases: dict[str, str]
    unviewed: list[str]

    def fresh(self, stats: Mapping[str, os.stat_result]) -> bool:
        """True when the logs are exactly as the head covers them."""
        if stats.keys() != self.logs.keys():
            return False
        for name, st in stats.items():
            mark = self.logs[name]
            if mark.ino != st.st_ino or mark.size != st.st_size or mark.mtime_ns != st.st_mtime_ns:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """The head as stored."""
        return {
            "v": VERSION,
            "logs": {n: _mark_out(m) for n, m in self.logs.items()},
            "writers": {w: list(v) for w, v in self.writers.items()},
            "heads": [list(h) for h in self.heads],
            "pending": [[n, line, data.decode()] for n, line, data in self.pending],
            "rejected": sorted(self.rejected),
            "shards": self.shards,
            "rows": self.rows,
            "delta_rows": self.delta_rows,
            "edges": self.edges,
            "aliases": self.aliases,
            "unviewed": self.unviewed,
        }


def _mark_out(m: LogMark) -> list[Any]:
    return [m.ino, m.size, m.mtime_ns, m.offset, m.line, m.last]


def head_in(raw: Any) -> Head | None:
    """A head from its JSON; None for anything malformed or of another version."""
    try:
        if type(raw) is not dict or raw.get("v") != VERSION:
            return None
        logs = {}
        for name, m in raw["logs"].items():
            ino, size, mtime, offset, line, last = m
            if not all(type(x) is int for x in (ino, size, mtime, offset, line)):
                return None
            logs[str(name)] = LogMark(ino, size, mtime, offset, line, str(last))
        shards = raw["shards"]
        if not all(_SHARD.fullmatch(k) and _SHARD_TOKEN.fullmatch(v) for k, v in shards.items()):
            return None
        tokens = [*raw["rows"], raw["edges"]]
        if not all(type(t) is str and TOKEN.fullmatch(t) for t in tokens):
            return None
        return Head(
            logs=logs,
            writers={str(w): (int(n), int(ms), int(c)) for w, (n, ms, c) in raw["writers"].items()},
            heads=[(str(n), int(s), str(d)) for n, s, d in raw["heads"]],
            pending=[(str(n), int(line), str(t).encode()) for n, line, t in raw["pending"]],
            rejected={str(r) for r in raw["rejected"]},
            shards=dict(shards),
            rows=list(raw["rows"]),
            delta_rows=int(raw["delta_rows"]),
            edges=str(raw["edges"]),
            aliases={str(t): str(n) for t, n in raw["aliases"].items()},
            unviewed=[t for t in raw["unviewed"] if type(t) is str and _TASK.fullmatch(t)],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
