"""The pycrdt boundary: shard documents, and writing ops into them.

This is the only module that touches pycrdt. It loads pycrdt's compiled core
(``pycrdt._pycrdt``) directly: the package's Python layer imports anyio and
``importlib.metadata`` on start (~35 ms), which nothing here uses, while the
core itself loads in under a millisecond. The core is registered under its
own name, so a later ``import pycrdt`` (tests, other code) shares it.

The key layout inside a shard document, and the entries' encoding, are
``_entries``'s.

Hazards guarded here: updates are applied one at a time, never through
``merge_updates`` (quadratic, and it can panic); pycrdt's panics are
``BaseException`` and are translated (KeyboardInterrupt and SystemExit
pass); ``Text`` offsets are UTF-8 byte offsets (edits are converted from
characters here); a writer logs only the update of its own transaction,
captured by an observer that is always dropped.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from . import _json
from ._entries import DESCRIPTION, NOTES, ROOT, entry, note_json
from ._errors import RejectedUpdate, StorageError
from ._model import Change, Op, OpKind, Stamp
from ._textdiff import text_edits

T = TypeVar("T")


def _load_core() -> ModuleType:
    """pycrdt's compiled core, without running the package's Python layer."""
    name = "pycrdt._pycrdt"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("pycrdt")
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    found = [str(p) for f in folders for p in sorted(Path(f).glob("_pycrdt*.so"))]
    if not found:
        import pycrdt._pycrdt as core  # an unusual install: take the slow path

        return core
    loader = importlib.machinery.ExtensionFileLoader(name, found[0])
    core_spec = importlib.util.spec_from_file_location(name, found[0], loader=loader)
    if core_spec is None:  # pragma: no cover - find_spec found it a moment ago
        raise ImportError(name)
    module = importlib.util.module_from_spec(core_spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module


_Y = _load_core()


def guard(action: Callable[[], T], what: str) -> T:
    """Run a pycrdt call, translating its exceptions, panics included."""
    try:
        return action()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        raise RejectedUpdate(f"{what}: {type(exc).__name__}: {exc}"[:300]) from exc


# ------------------------------------------------------------- entries


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


# ------------------------------------------------------------- documents


class Shard:
    """One shard document.

    Args:
        client_id: the pycrdt client id it writes as (a writer id as an
            integer), or None for a random one (a document that only reads).
    """

    __slots__ = ("_doc", "_root", "_txn", "client_id")

    def __init__(self, client_id: int | None = None) -> None:
        self.client_id = client_id
        self._doc = _Y.Doc(client_id, None, None)
        txn = self._doc.create_transaction()
        try:
            self._root = self._doc.get_or_insert_map(txn, ROOT)
        finally:
            txn.commit()
            txn.drop()
        self._txn: Any = None

    def _with(self, action: Callable[[Any], T], what: str) -> T:
        """Run ``action(txn)`` in the open batch transaction, or in one of its own."""
        if self._txn is not None:
            return guard(lambda: action(self._txn), what)
        txn = self._doc.create_transaction()
        try:
            return guard(lambda: action(txn), what)
        finally:
            txn.commit()
            txn.drop()

    def begin(self) -> None:
        """Start applying updates in one transaction (a batch) until ``end``.

        A transaction of its own costs most of applying an update; replaying
        logs applies thousands in a row. Reads inside the batch see
        everything applied so far.
        """
        if self._txn is None:
            self._txn = self._doc.create_transaction()

    def end(self) -> None:
        """Commit the batch transaction, if one is open.

        Raises:
            StorageError: when pycrdt cannot commit what was applied.
        """
        txn, self._txn = self._txn, None
        if txn is not None:
            try:
                guard(txn.commit, "cannot commit")
            except RejectedUpdate as exc:
                raise StorageError(str(exc)) from exc
            finally:
                txn.drop()

    def apply(self, update: bytes) -> None:
        """Apply one update.

        Raises:
            RejectedUpdate: when pycrdt rejects the bytes.
        """
        try:
            self._with(lambda t: self._doc.apply_update(t, update), "pycrdt rejected the update")
        except RejectedUpdate:
            self.end()  # a transaction that saw an error is not reused
            raise

    def apply_batch(self, updates: Iterable[bytes]) -> tuple[set[str], list[tuple[int, str]]]:
        """Apply updates in one transaction; say which task maps they touched.

        Returns:
            ``(touched, rejected)``: the ids of the task maps the updates
            created or changed (from pycrdt's own change events, so an update
            that touches more than its record says is seen too), and for each
            update pycrdt refused, its index and why.
        """
        touched: set[str] = set()

        def collect(events: list[Any]) -> None:
            for event in events:
                path = event.path
                if path:
                    touched.add(str(path[0]))
                else:
                    touched.update(str(k) for k in event.keys)

        rejected: list[tuple[int, str]] = []
        subscription = self._root.observe_deep(collect)
        try:
            self.begin()
            for n, update in enumerate(updates):
                try:
                    self.apply(update)
                except RejectedUpdate as exc:
                    rejected.append((n, str(exc)))
                    self.begin()
            self.end()
        finally:
            subscription.drop()
        return touched, rejected

    def adopt(self, client_id: int) -> Shard:
        """This document's state in a new document that writes as ``client_id``.

        A document first built for reading has some other (random) client id;
        it never wrote anything, so a copy of its state under the writer's
        client id is the same document.
        """
        if self.client_id == client_id:
            return self
        copy = Shard(client_id)
        copy.apply(self.encode())
        return copy

    def state(self) -> dict[int, int]:
        """The state vector: client id -> clock."""
        return decode_state_vector(self._with(self._doc.get_state, "cannot read state"))

    def encode(self) -> bytes:
        """The whole state as one update (a snapshot)."""
        data: bytes = self._with(lambda t: self._doc.get_update(t, b"\x00"), "cannot encode")
        return data

    def extract(self) -> dict[str, Any]:
        """Every task map's contents as JSON: task id -> {key: value}.

        Uses pycrdt's native JSON export, an order of magnitude faster than
        walking the maps from Python.

        Raises:
            StorageError: when pycrdt exports something that is not JSON.
        """
        raw = self._with(self._root.to_json, "cannot export")
        try:
            data = _json.loads(raw, depth=_json.MAX_DEPTH * 4)
        except ValueError as exc:
            raise StorageError(f"a shard exported invalid JSON: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def task(self, task_id: str) -> dict[str, Any] | None:
        """One task map's contents as JSON (None when there is no such map)."""

        def read(txn: Any) -> str | None:
            if not self._root.has(txn, task_id):
                return None
            found = self._root.get(txn, task_id)
            return found.to_json(txn) if isinstance(found, _Y.Map) else None

        raw = self._with(read, "cannot export task")
        if raw is None:
            return None
        try:
            data = _json.loads(raw, depth=_json.MAX_DEPTH * 4)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # ---------------------------------------------------------------- writing

    def write(self, actions: Iterable[Callable[[Any, Any], None]]) -> bytes:
        """Run write actions ``action(txn, root)`` in one transaction; return its update.

        Raises:
            StorageError: when the document does not take the write.
        """
        self.end()
        captured: list[bytes] = []
        subscription = self._doc.observe(lambda event: captured.append(event.update))
        try:
            txn = self._doc.create_transaction_with_origin(self.client_id)
            try:
                for action in actions:
                    guard(lambda a=action: a(txn, self._root), "cannot write")  # type: ignore[misc]
            finally:
                txn.commit()
                txn.drop()
        except RejectedUpdate as exc:
            raise StorageError(str(exc)) from exc
        finally:
            subscription.drop()
        if len(captured) != 1:
            raise StorageError(f"expected one transaction, saw {len(captured)}")
        return captured[0]


def write_op(
    doc_of: Callable[[str], Shard], op: Op, stamp: Stamp
) -> tuple[dict[str, bytes], dict[str, int], dict[str, set[str]]]:
    """Apply an op to its shards' documents as its writer.

    Args:
        doc_of: the document of a shard (writing as the stamp's writer).
        op: what to change.
        stamp: the op's stamp.

    Returns:
        Per shard: the update of exactly this op's transaction, the writer's
        clock after it, and the tasks it touched.
    """
    from ._ids import shard_of

    actions: dict[str, list[Callable[[Any, Any], None]]] = {
        shard_of(op.task): [main_actions(op, stamp)]
    }
    touched: dict[str, set[str]] = {shard_of(op.task): {op.task}}
    for other, change in op.blocks:
        actions.setdefault(shard_of(other), []).append(edge_action(other, op.task, change, stamp))
        touched.setdefault(shard_of(other), set()).add(other)
    client = int(stamp.writer, 16)
    updates: dict[str, bytes] = {}
    clocks: dict[str, int] = {}
    for shard in sorted(actions):
        doc = doc_of(shard)
        updates[shard] = doc.write(actions[shard])
        clocks[shard] = doc.state()[client]
    return updates, clocks, touched


def main_actions(op: Op, stamp: Stamp) -> Callable[[Any, Any], None]:
    """The write of an op to its own task's map (creating the map for a create)."""
    w = stamp.writer

    def act(txn: Any, root: Any) -> None:
        if op.kind is OpKind.CREATE:
            created = root.insert_map_prelim(txn, op.task)
            created.insert(txn, f"c:{w}", entry(None, stamp))
            created.insert_text_prelim(txn, DESCRIPTION)
            created.insert_array_prelim(txn, NOTES)
        tmap = _task_map(txn, root, op.task)
        for name, change in op.fields:
            tmap.insert(txn, f"f:{name}:{w}", entry(change.new, stamp))
        for key, change in op.metadata:
            tmap.insert(txn, f"m:{key}:{w}", entry(change.new, stamp))
        for blocker, change in op.blocked_by:
            tmap.insert(txn, f"b:{blocker}:{w}", entry(change.new, stamp))
        if op.description is not None and isinstance(op.description.new, str):
            text = tmap.get(txn, DESCRIPTION)
            if isinstance(text, _Y.Text):
                _edit_text(txn, text, op.description.new)
        if op.note is not None:
            notes = tmap.get(txn, NOTES)
            if isinstance(notes, _Y.Array):
                notes.insert(txn, notes.len(txn), note_json(op.note, stamp))
        tmap.insert(txn, f"u:{w}", entry(None, stamp))

    return act


def edge_action(
    blocked: str, blocker: str, change: Change, stamp: Stamp
) -> Callable[[Any, Any], None]:
    """The write of an edge ``blocker -> blocked`` made from the blocker's side."""

    def act(txn: Any, root: Any) -> None:
        tmap = _task_map(txn, root, blocked)
        tmap.insert(txn, f"b:{blocker}:{stamp.writer}", entry(change.new, stamp))
        tmap.insert(txn, f"u:{stamp.writer}", entry(None, stamp))

    return act


def _task_map(txn: Any, root: Any, task_id: str) -> Any:
    found = root.get(txn, task_id) if root.has(txn, task_id) else None
    if not isinstance(found, _Y.Map):
        raise StorageError(f"task {task_id} has no document map")
    return found


def _edit_text(txn: Any, text: Any, new: str) -> None:
    """Turn ``text`` into ``new`` with minimal edits at UTF-8 byte offsets."""
    old = text.get_string(txn)
    for start, end, repl in reversed(text_edits(old, new)):
        byte_start = len(old[:start].encode())
        byte_end = byte_start + len(old[start:end].encode())
        if byte_end > byte_start:
            text.remove_range(txn, byte_start, byte_end - byte_start)
        if repl:
            text.insert(txn, byte_start, repl, None)
