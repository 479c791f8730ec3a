"""The pycrdt boundary: shard documents, applying updates, writing ops.

This is the only module that imports pycrdt (it costs ~100 ms to import, so
commands answered from a fresh derived view never load it). Every pycrdt
hazard the design knows of is guarded here:

* updates are applied one at a time, never through ``merge_updates``
  (quadratic, and it can panic on overlapping input) -- during a replay,
  many to a shard inside one transaction (``batched``);
* pycrdt may raise ``PanicException``, a ``BaseException``: it is caught and
  translated, while KeyboardInterrupt and SystemExit pass through;
* values are stored as JSON text (see ``_schema``), so no int reaches pycrdt;
* ``Text`` offsets are UTF-8 byte offsets, and an offset that is not on a
  character boundary silently appends at the end: edits are converted from
  character offsets here, and text is never changed with ``+=``;
* a writer logs only the update of its own transaction, captured by an
  observer that is always unobserved (an observed ``Doc`` is never freed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from pycrdt import Array, Doc, Map, Text, Transaction, TransactionEvent

from ._errors import CacheBroken, StorageError
from ._model import Change, Json, Op, OpKind, Stamp
from ._schema import DESCRIPTION, NOTES, ROOT, entry, note_json, shard_of
from ._textdiff import text_edits

T = TypeVar("T")


class RejectedUpdate(ValueError):
    """pycrdt refused an update (internal; the replayer turns it into a warning)."""


def _guard(action: Callable[[], T], what: str) -> T:
    """Run a pycrdt call, translating its exceptions, panics included."""
    try:
        return action()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        raise RejectedUpdate(f"{what}: {type(exc).__name__}: {exc}"[:300]) from exc


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Decode a Yjs state vector (varuint count, then client/clock pairs)."""
    pos = 0

    def varuint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    out: dict[int, int] = {}
    for _ in range(varuint()):
        client = varuint()
        out[client] = varuint()
    return out


class Replica:
    """The shard documents of one list, as pycrdt ``Doc`` values.

    Args:
        client_id: the writer's pycrdt client id when this replica will write;
            None for a replica that only reads. It may be set later: shards
            are adopted by the writer when first written.
        load: returns a shard's snapshot (an update holding its whole state)
            the first time the shard is needed, or None to start it empty.
    """

    def __init__(
        self,
        client_id: int | None = None,
        load: Callable[[str], bytes | None] | None = None,
        loaded: Callable[[str], None] | None = None,
    ) -> None:
        self.client_id = client_id
        self._docs: dict[str, Doc[Any]] = {}
        self._load = load
        self._loaded = loaded  # checks a shard just loaded from a snapshot
        # shard -> its open transaction, while ``batched`` runs
        self._open: dict[str, Transaction] | None = None

    @property
    def shards(self) -> tuple[str, ...]:
        """The shards that have a document, sorted."""
        return tuple(sorted(self._docs))

    def _doc(self, shard: str) -> Doc[Any]:
        doc = self._docs.get(shard)
        if doc is None:
            doc = Doc() if self.client_id is None else Doc(client_id=self.client_id)
            snapshot = None if self._load is None else self._load(shard)
            if snapshot:
                try:
                    _guard(lambda: doc.apply_update(snapshot), "cannot load the shard snapshot")
                except RejectedUpdate as exc:  # the cache is damaged, not the logs
                    raise CacheBroken(f"snapshot of shard {shard}: {exc}") from exc
            self._docs[shard] = doc
            if self._load is not None and self._loaded is not None:
                try:
                    self._loaded(shard)
                except BaseException:
                    del self._docs[shard]
                    raise
        return doc

    def loaded(self, shard: str) -> bool:
        """Whether the shard's document is in memory."""
        return shard in self._docs

    def _root(self, shard: str) -> Map[Any]:
        root: Map[Any] = self._doc(shard).get(ROOT, type=Map)
        return root

    def apply(self, shard: str, update: bytes) -> None:
        """Apply one update to a shard.

        Raises:
            RejectedUpdate: when pycrdt rejects the bytes.
        """
        doc = self._doc(shard)
        if self._open is not None and shard not in self._open:
            txn = doc.transaction()
            txn.__enter__()
            self._open[shard] = txn
        try:
            _guard(lambda: doc.apply_update(update), "pycrdt rejected the update")
        except RejectedUpdate:
            self._close(shard)  # a transaction that saw an error is not reused
            raise

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Apply updates in one transaction per shard until the block ends.

        A transaction of its own costs most of applying an update (~12 of
        ~17 us here); replaying logs applies thousands in a row. Reading a
        shard inside the block sees everything applied so far.

        Raises:
            StorageError: when pycrdt cannot commit what was applied.
        """
        if self._open is not None:
            yield
            return
        self._open = {}
        try:
            yield
        finally:
            for shard in list(self._open):
                self._close(shard)
            self._open = None

    def _close(self, shard: str) -> None:
        txn = None if self._open is None else self._open.pop(shard, None)
        if txn is None:
            return
        try:
            _guard(lambda: txn.__exit__(None, None, None), "cannot commit")
        except RejectedUpdate as exc:
            raise StorageError(f"shard {shard}: {exc}") from exc

    def state(self, shard: str) -> dict[int, int]:
        """The shard's state vector: client id -> clock."""
        doc = self._docs.get(shard)
        if doc is None:
            return {}
        return decode_state_vector(_guard(doc.get_state, "cannot read state"))

    def encode(self, shard: str) -> bytes:
        """The shard's whole state as one update (for snapshots)."""
        doc = self._docs.get(shard)
        if doc is None:
            return b""
        return _guard(doc.get_update, "cannot encode state")

    def reset(self, shard: str) -> None:
        """Start a shard over with an empty document (to rebuild it from the logs)."""
        self._docs[shard] = Doc() if self.client_id is None else Doc(client_id=self.client_id)

    def extract(self, shard: str) -> dict[str, Json]:
        """Return the shard's tasks as JSON: task id -> task map contents.

        Uses pycrdt's native JSON export, an order of magnitude faster than
        ``to_py`` for whole documents.
        """
        if shard not in self._docs:
            return {}
        root = self._root(shard)
        raw = _guard(lambda: str(root), "cannot export shard")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise StorageError(f"shard {shard} exported invalid JSON") from exc
        return data if isinstance(data, dict) else {}

    def task_json(self, task_id: str) -> Json:
        """One task map's contents as JSON (None if the map does not exist)."""
        shard = shard_of(task_id)
        if shard not in self._docs:
            return None
        tmap = self._task_map(task_id)
        if tmap is None:
            return None
        raw = _guard(lambda: str(tmap), "cannot export task")
        try:
            data: Json = json.loads(raw)
        except ValueError:
            return None
        return data

    def description(self, task_id: str) -> str:
        """The current description text of a task ("" if none)."""
        tmap = self._task_map(task_id)
        if tmap is None:
            return ""
        text = tmap.get(DESCRIPTION)
        return str(text) if isinstance(text, Text) else ""

    def _task_map(self, task_id: str) -> Map[Any] | None:
        root = self._root(shard_of(task_id))
        tmap = root.get(task_id)
        return tmap if isinstance(tmap, Map) else None

    def write(self, op: Op, stamp: Stamp) -> tuple[dict[str, bytes], dict[str, int]]:
        """Apply an op as this replica's writer.

        Args:
            op: what to change.
            stamp: the op's stamp (its writer must be this replica's client).

        Returns:
            ``(updates, clocks)``: per shard, the update of exactly this op's
            transaction and the writer's clock after it.

        Raises:
            StorageError: when a task the op edits has no map in this replica.
        """
        if self.client_id is None or int(stamp.writer, 16) != self.client_id:
            raise StorageError("this replica cannot write for that writer")
        by_shard: dict[str, list[Callable[[], None]]] = {}
        by_shard[shard_of(op.task)] = [partial(self._write_main, op, stamp)]
        for other, change in op.blocks:
            by_shard.setdefault(shard_of(other), []).append(
                partial(self._write_edge, other, op.task, change, stamp)
            )
        updates: dict[str, bytes] = {}
        clocks: dict[str, int] = {}
        for shard in sorted(by_shard):
            self._adopt(shard)
            updates[shard] = self._transact(shard, by_shard[shard])
            clocks[shard] = self.state(shard)[self.client_id]
        return updates, clocks

    def _adopt(self, shard: str) -> None:
        """Make a shard's document write as this replica's client.

        A document first built for reading has some other (random) client id;
        it never wrote anything, so a copy of its state under the writer's
        client id is the same document. This lets one replay serve a read and
        then a write, instead of replaying twice.
        """
        doc = self._docs.get(shard)
        if doc is None or doc.client_id == self.client_id:
            return
        state = _guard(doc.get_update, "cannot encode state")
        adopted: Doc[Any] = Doc(client_id=self.client_id)
        _guard(lambda: adopted.apply_update(state), "cannot copy state")
        self._docs[shard] = adopted

    def _transact(self, shard: str, actions: Iterable[Callable[[], None]]) -> bytes:
        doc = self._doc(shard)
        captured: list[bytes] = []

        def capture(event: TransactionEvent) -> None:
            captured.append(event.update)

        subscription = doc.observe(capture)
        try:
            with doc.transaction(origin=self.client_id):
                for action in actions:
                    action()
        finally:
            doc.unobserve(subscription)
        if len(captured) != 1:
            raise StorageError(f"expected one transaction in shard {shard}, saw {len(captured)}")
        return captured[0]

    def _write_main(self, op: Op, stamp: Stamp) -> None:
        w = stamp.writer
        if op.kind is OpKind.CREATE:
            created: Map[Any] = Map()
            self._root(shard_of(op.task))[op.task] = created
            created[f"c:{w}"] = entry(None, stamp)
            created[DESCRIPTION] = Text()
            created[NOTES] = Array()
        found = self._task_map(op.task)
        if found is None:
            raise StorageError(f"task {op.task} has no document map")
        tmap = found
        for name, change in op.fields:
            tmap[f"f:{name}:{w}"] = entry(change.new, stamp)
        for key, change in op.metadata:
            tmap[f"m:{key}:{w}"] = entry(change.new, stamp)
        for blocker, change in op.blocked_by:
            tmap[f"b:{blocker}:{w}"] = entry(change.new, stamp)
        if op.description is not None:
            text = tmap[DESCRIPTION]
            new = op.description.new
            if isinstance(text, Text) and isinstance(new, str):
                _edit_text(text, new)
        if op.note is not None:
            notes = tmap[NOTES]
            if isinstance(notes, Array):
                notes.append(note_json(op.note, stamp))
        tmap[f"u:{w}"] = entry(None, stamp)

    def _write_edge(self, blocked: str, blocker: str, change: Change, stamp: Stamp) -> None:
        tmap = self._task_map(blocked)
        if tmap is None:
            raise StorageError(f"task {blocked} has no document map")
        tmap[f"b:{blocker}:{stamp.writer}"] = entry(change.new, stamp)
        tmap[f"u:{stamp.writer}"] = entry(None, stamp)


def _edit_text(text: Text, new: str) -> None:
    """Turn ``text`` into ``new`` with minimal edits at UTF-8 byte offsets."""
    old = str(text)
    for start, end, repl in reversed(text_edits(old, new)):
        byte_start = len(old[:start].encode())
        byte_end = byte_start + len(old[start:end].encode())
        if byte_end > byte_start:
            del text[byte_start:byte_end]
        if repl:
            text.insert(byte_start, repl)
