"""The shard documents of one replayer, applied lazily and resolved incrementally.

Accepted updates wait in their shard's queue until the shard is needed; then
they are applied in one batch (in acceptance order, which keeps every
writer's own order), pycrdt says which task maps changed, and only those are
resolved again. A shard nobody needs is never loaded: a command answered
from a snapshot reads that shard's resolved tasks from the snapshot instead.

After a batch, the shard's state vector is checked against the clocks its
records declare: a writer whose updates the document cannot integrate (a
record pycrdt refused, so everything after it waits for it) is reported
once, and that writer may not write to the shard any more. A shard loaded
from a snapshot must reach the clocks the snapshot declares, or the snapshot
is damaged (``CacheBroken``).

Documents stay in memory while their encoded states together stay under
``DOCS_BYTES`` (a 10k list's all do); past that, the least recently used one
is kept as its encoded state until needed again (never fewer than
``MIN_DOCS`` stay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from ._cache_format import Partials
from ._datatype import datatype, field
from ._doc import Shard
from ._errors import CacheBroken, RejectedUpdate
from ._fold import Memo, resolve_task
from ._ids import is_task_id, shard_of
from ._index import Index
from ._log import LogWarning, Record
from ._model import Partial, Task

if TYPE_CHECKING:
    from ._snapshot import Base

#: a document in memory takes about 8 times its encoded size: 24 MiB encoded is
#: every shard of a 10k list (~13 MiB), a quarter of a 100k list's (a replay of
#: 1M ops peaks at ~770 MB with it, ~1,230 MB with 64 documents kept whatever
#: their size); never fewer than 16 (a shard an op wrote and then sent out of
#: memory is loaded back from its encoded state, which holds the write: ``wrote``)
DOCS_BYTES = 24 << 20
MIN_DOCS = 16
#: a shard's queue is applied (not yet resolved) once it holds this many updates,
#: so a replay of a million ops holds documents and ids, not every update read
APPLY_AT = 4096
_EXTRACT_ALL = 24  # resolving this many tasks of a shard: export the whole shard at once


class _Tasks(Mapping[str, Task]):
    """A shard's tasks as a state reads them: each read from the cache when first asked
    for (a write on a big list reads one task, not the shard's every one)."""

    __slots__ = ("_parts", "_recover")

    def __init__(
        self, parts: Partials, recover: Callable[[CacheBroken], Mapping[str, Partial]]
    ) -> None:
        self._parts = parts
        self._recover = recover

    def __getitem__(self, task_id: str) -> Task:
        try:
            return self._parts[task_id].task
        except CacheBroken as exc:  # (the shard is read from the logs instead)
            return self._recover(exc)[task_id].task

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)


@datatype
class _Slot:
    doc: Shard | None = None
    encoded: bytes | None = None  # the document's state while it is out of memory
    queue: list[tuple[bytes, int, int, str, str, int]] = field(default_factory=list)
    declared: dict[int, int] = field(default_factory=dict)
    partials: Partials | None = None
    touched: set[str] | None = None  # what was applied but not resolved yet
    short: set[int] = field(default_factory=set)
    changed: bool = False  # differs from the base's snapshot
    version: int = 0  # counts the changes (a shard file staged at one is current while equal)
    used: int = 0
    size: int = 0  # the document's encoded size, as last known (bytes)


class Shards:
    """Every shard document of one replayer.

    Args:
        index: the index to keep up to date with resolved tasks.
        base: the snapshot the replayer started from, if any.
        client_id: the pycrdt client id documents write as.
        warn: reports a problem once.
    """

    def __init__(
        self,
        index: Index,
        base: Base | None,
        client_id: int | None,
        warn: Callable[[LogWarning], None],
    ) -> None:
        self.index = index
        self.base = base
        self.client_id = client_id
        self.warn = warn
        self.rejected: set[str] = set()
        self._slots: dict[str, _Slot] = {}
        self._waiting: set[str] = set()  # shards with updates queued, or applied and not resolved
        self._bad: dict[str, int] = {}
        self._memo = Memo()
        self._tick = 0
        # shards whose resolved tasks a handed-out state shares: copied before a change
        self._shared: set[str] = set()
        #: the loader ``frozen`` last made, while no shard's tasks changed since
        self._frozen: Callable[[str], Mapping[str, Task]] | None = None
        #: what a damaged snapshot file said, and where a shard it cannot give comes from then
        self.broken: str | None = None
        #: shard files written for the next head ahead of it: shard -> (version, token)
        self.staged: dict[str, tuple[int, str]] = {}
        self.recover: Callable[[str], Mapping[str, Partial]] | None = None

    def _slot(self, shard: str) -> _Slot:
        slot = self._slots.get(shard)
        if slot is None:
            slot = self._slots[shard] = _Slot()
            if self.base is not None:
                slot.declared = dict(self.base.declared(shard))
        return slot

    def queue(self, record: Record, updates: Mapping[str, bytes], name: str, number: int) -> None:
        """Queue an accepted record's updates on their shards."""
        client = int(record.writer, 16)
        if len(updates) > 1:
            self._bad[record.ref] = -len(updates)  # counts up to 0 as updates are refused
        for shard, update in updates.items():
            slot = self._slot(shard)
            slot.queue.append((update, client, record.clocks[shard], record.ref, name, number))
            self._waiting.add(shard)
            if len(slot.queue) >= APPLY_AT:
                self._apply(shard, slot)

    @property
    def waiting(self) -> list[str]:
        """Shards with updates queued, or applied and not resolved yet."""
        return sorted(self._waiting)

    # ----------------------------------------------------------------- loading

    def _load(self, shard: str, slot: _Slot) -> Shard:
        doc = Shard(self.client_id)
        data = slot.encoded
        from_base = data is None and self.base is not None
        if from_base:
            assert self.base is not None
            data = self.base.snapshot(shard)
        slot.size = len(data) if data else 0
        if data:
            try:
                doc.apply(data)
            except RejectedUpdate as exc:
                raise CacheBroken(f"snapshot of shard {shard}: {exc}") from exc
            if from_base:
                self._check_snapshot(shard, doc)
        slot.doc = doc
        slot.encoded = None
        self._evict(shard)
        return doc

    def _check_snapshot(self, shard: str, doc: Shard) -> None:
        assert self.base is not None
        state = doc.state()
        for client, clock in self.base.declared(shard).items():
            if state.get(client, 0) < clock:
                raise CacheBroken(f"snapshot of shard {shard} falls short of its declared clocks")

    def _evict(self, keep: str) -> None:
        slots = self._slots
        loaded = [(s.used, n) for n, s in slots.items() if s.doc is not None and n != keep]
        total = slots[keep].size + sum(slots[n].size for _, n in loaded)
        if total <= DOCS_BYTES or len(loaded) < MIN_DOCS:
            return
        loaded.sort()
        for left, (_, victim) in enumerate(loaded):
            if total <= DOCS_BYTES or len(loaded) - left < MIN_DOCS:
                break
            slot = slots[victim]
            assert slot.doc is not None
            total -= slot.size  # (out of memory; its estimate becomes its measured size)
            slot.encoded = slot.doc.encode()
            slot.size = len(slot.encoded)
            slot.doc = None

    def doc(self, shard: str) -> Shard:
        """The shard's document, with everything queued applied (for writing)."""
        self.settle(shard)
        slot = self._slot(shard)
        doc = slot.doc if slot.doc is not None else self._load(shard, slot)
        if self.client_id is not None and doc.client_id != self.client_id:
            doc = slot.doc = doc.adopt(self.client_id)
        return doc

    # ---------------------------------------------------------------- settling

    def settle(self, shard: str) -> Partials:
        """Apply what waits for a shard and resolve what changed; return its tasks."""
        slot = self._slot(shard)
        self._tick += 1
        slot.used = self._tick
        if slot.queue:
            self._apply(shard, slot)
        if slot.touched is not None:
            doc = slot.doc if slot.doc is not None else self._load(shard, slot)
            self._check_clocks(shard, slot, doc)
            touched, slot.touched = slot.touched, None
            self._resolve(shard, slot, doc, touched)
            self._waiting.discard(shard)
        elif slot.partials is None:
            slot.partials = Partials() if self.base is None else self.base.tasks(shard)
            self._frozen = None
        return slot.partials if slot.partials is not None else Partials()

    def _apply(self, shard: str, slot: _Slot) -> None:
        """Apply a shard's queue to its document; what it touched is resolved at ``settle``."""
        self._tick += 1
        slot.used = self._tick
        doc = slot.doc if slot.doc is not None else self._load(shard, slot)
        items, slot.queue = slot.queue, []
        slot.size += sum(len(item[0]) for item in items)
        touched, refused = doc.apply_batch(item[0] for item in items)
        slot.changed = True
        slot.version += 1
        for n, problem in refused:
            _, _, _, ref, name, number = items[n]
            self.warn(LogWarning(name, number, f"{problem}, skipped", "update"))
            self._refused(ref)
        for _, client, clock, _, _, _ in items:
            if clock > slot.declared.get(client, 0):
                slot.declared[client] = clock
        slot.touched = touched if slot.touched is None else slot.touched | touched

    def _refused(self, ref: str) -> None:
        count = self._bad.get(ref)
        if count is None or count == -1:
            self._bad.pop(ref, None)
            self.rejected.add(ref)
        else:
            self._bad[ref] = count + 1

    def _check_clocks(self, shard: str, slot: _Slot, doc: Shard) -> None:
        state = doc.state()
        for client, clock in sorted(slot.declared.items()):
            have = state.get(client, 0)
            if have < clock and client not in slot.short:
                slot.short.add(client)
                self.warn(
                    LogWarning(
                        "",
                        0,
                        f"shard {shard}: writer {client:013x} is at clock {have}, its log "
                        f"declares {clock}; some of its updates cannot be integrated",
                        "clock",
                    )
                )
            elif have >= clock:
                slot.short.discard(client)

    def _resolve(self, shard: str, slot: _Slot, doc: Shard, touched: set[str]) -> None:
        self._frozen = None
        if slot.partials is None:
            slot.partials = Partials() if self.base is None else self.base.tasks(shard).copy()
        elif shard in self._shared:
            slot.partials = slot.partials.copy()  # copy on write: a state holds the old one
            self._shared.discard(shard)
        ids = {t for t in touched if is_task_id(t) and shard_of(t) == shard}
        if len(ids) >= _EXTRACT_ALL:
            raw = doc.extract()
            found = {t: resolve_task(t, raw.get(t), self._memo) for t in ids}
        else:
            found = {t: resolve_task(t, doc.task(t), self._memo) for t in ids}
        changed = []
        for task_id, part in found.items():
            if part is not None:
                old = slot.partials.get(task_id)
                if old is None or old.task != part.task:
                    self.index.unview((task_id,))
                if old != part:  # (an unchanged task keeps its object, and its JSON)
                    slot.partials[task_id] = part
                changed.append(part)
        self.index.put(changed)

    def settle_all(self) -> None:
        """Apply every queue (before a whole state is read)."""
        for shard in self.waiting:
            self.settle(shard)

    def wrote(self, shard: str, client: int, clock: int, touched: set[str], size: int) -> None:
        """Take in this replayer's own write to a shard (its document holds it already;
        ``size``: the update's, in bytes)."""
        slot = self._slot(shard)
        slot.changed = True
        slot.size += size
        slot.version += 1
        if clock > slot.declared.get(client, 0):
            slot.declared[client] = clock
        # (a write to many shards may have sent this one out of memory since: its
        # encoded state holds the write)
        doc = slot.doc if slot.doc is not None else self._load(shard, slot)
        self._resolve(shard, slot, doc, touched)

    # ----------------------------------------------------------------- reading

    def partial(self, task_id: str) -> Partial | None:
        """A task as resolved (without derived edges), or None when unknown."""
        return self.settle(shard_of(task_id)).get(task_id)

    def frozen(self) -> Callable[[str], Mapping[str, Task]]:
        """A loader of every shard's tasks as they stand now, which later reads never change.

        Costs one reference per shard: a shard's tasks are copied only when
        the next change to them comes (copy on write).
        """
        self.settle_all()
        if self._frozen is not None:
            return self._frozen
        view = {s: slot.partials for s, slot in self._slots.items() if slot.partials is not None}
        self._shared = set(view)
        base = self.base

        def load(shard: str) -> Mapping[str, Task]:
            found = view.get(shard)
            try:
                if found is None:
                    found = Partials() if base is None else base.tasks(shard)
            except CacheBroken as exc:
                return {task_id: p.task for task_id, p in self._recovered(exc, shard).items()}
            return _Tasks(found, lambda exc: self._recovered(exc, shard))

        self._frozen = load
        return load

    def _recovered(self, exc: CacheBroken, shard: str) -> Mapping[str, Partial]:
        """A shard's tasks from the logs, after its snapshot file turned out damaged."""
        if self.recover is None:
            raise exc
        if self.broken is None:
            self.broken = str(exc)
            self.warn(LogWarning("", 0, f"the derived cache was broken ({exc}): "
                                 "read from the logs", "cache"))  # fmt: skip
        return self.recover(shard)

    def short_of(self, shard: str, client: int) -> bool:
        """Whether a writer's updates in a shard could not all be integrated."""
        self.settle(shard)
        slot = self._slots.get(shard)
        return slot is not None and client in slot.short

    def changed(self) -> list[str]:
        """Shards whose document differs from the last snapshot written."""
        return sorted(s for s, slot in self._slots.items() if slot.changed)

    def saved(self) -> None:
        """A snapshot of every shard was just written."""
        for slot in self._slots.values():
            slot.changed = False
        self.staged.clear()

    def version(self, shard: str) -> int:
        """How many times the shard changed (with what waits for it applied)."""
        self.settle(shard)
        return self._slot(shard).version

    def unstaged(self) -> list[str]:
        """Changed shards with no file staged for the next head at their current version."""
        return [s for s in self.changed() if self.staged.get(s, (-1, ""))[0] != self.version(s)]

    def encode(self, shard: str) -> bytes:
        """A shard's whole state (for a snapshot)."""
        self.settle(shard)
        slot = self._slot(shard)
        if slot.doc is not None:
            return slot.doc.encode()
        if slot.encoded is not None:
            return slot.encoded
        return self._load(shard, slot).encode()

    def declared(self, shard: str) -> dict[int, int]:
        """A shard's clocks as its records declare them."""
        return dict(self._slot(shard).declared)
