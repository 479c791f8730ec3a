"""Logs -> pycrdt shard documents: an incremental, tolerant, order-safe fold.

The replayer reads each log from where it stopped (per-file cursors), so the
same object serves a full replay, catching up on new appends, and following
logs live. It applies every writer's records strictly in that writer's
sequence order -- pycrdt can lose data for good when two or more later
updates of one client arrive before an earlier one -- while the order across
writers does not matter. Records seen twice (a log copied under another
name, a replica exchange) are applied once. A record that arrives ahead of a
gap is held back until the gap fills.

Lines that are torn, not JSON, of an unknown version, malformed, or whose
update pycrdt rejects are skipped, each with one warning; nothing stops a
replay. After catching up, every changed shard's state vector is checked
against the clocks the records declare; a shard that falls short is rebuilt
from the logs in strict per-writer order.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._crdt import RejectedUpdate, Replica
from ._errors import CacheBroken
from ._log import (
    GENESIS,
    TORN_MARK,
    BadRecord,
    Cursor,
    Line,
    LogWarning,
    Record,
    digest,
    parse_record,
)
from ._model import HLC_ZERO, Hlc, Task
from ._paths import is_task_id, scan_logs
from ._resolve import Memo, Partial, resolve_task
from ._state import RawEdges, Row, State, raw_edges


def _decode(data: str) -> bytes:
    """Strict base64 (no stray characters, padding only at the end), in C."""
    return binascii.a2b_base64(data, strict_mode=True)


@dataclass(slots=True)
class _Writer:
    applied: int = 0
    pending: dict[int, tuple[str, int, Record, bytes]] = field(default_factory=dict)


@dataclass(slots=True)
class LogHead:
    """The last well-formed record of one log file.

    Attributes:
        seq: its sequence number (0 for an empty log).
        line: its bytes, whose digest the next record must link to ("" when
            only the digest is known, after a restore).
        known: that digest, when restored from the cache.
    """

    seq: int = 0
    line: bytes = b""
    known: str = GENESIS

    @property
    def digest(self) -> str:
        """The hash the next record's ``prev`` must carry."""
        return digest(self.line) if self.line else self.known


@dataclass(frozen=True, slots=True)
class Base:
    """A derived cache to start from instead of the beginning of every log.

    Attributes:
        logs: per log, ``[inode, size, mtime_ns, offset, line]`` (``_cache.Head``).
        progress: the replayer's progress at that point (``Replayer.progress``).
        snapshot: a shard's pycrdt state at that point (None: empty shard).
        rows: every task's row at that point.
        edges: every task's edge registers at that point.
        tasks: a shard's resolved tasks at that point (without derived edges).
    """

    logs: dict[str, list[int]]
    progress: dict[str, object]
    snapshot: Callable[[str], bytes | None]
    rows: Mapping[str, Row]
    edges: RawEdges
    tasks: Callable[[str], dict[str, Task]]


class Replayer:
    """All logs of a list folded into a ``Replica``.

    Args:
        logs_dir: the folder of log files.
        client_id: the writer's pycrdt client id if this replica will write.
        until_ms: fold only ops whose HLC is at or before this time (time
            travel). HLCs only grow along a writer's log, so this keeps a
            prefix of every writer's records -- an order pycrdt accepts.
        base: start from a derived cache: read the logs only after its
            offsets, and load a shard's snapshot when the shard is first needed.
    """

    def __init__(
        self,
        logs_dir: Path,
        client_id: int | None = None,
        until_ms: int | None = None,
        base: Base | None = None,
    ) -> None:
        self.logs_dir = logs_dir
        self.until_ms = until_ms
        self.base = base
        #: every task's edge registers, as the last ``state()`` assembled them
        self.edges: RawEdges = {}
        self.replica = Replica(
            client_id,
            None if base is None else base.snapshot,
            None if base is None else self._check_snapshot,
        )
        self.cursors: dict[str, Cursor] = {}
        self.heads: dict[str, LogHead] = {}
        self.torn: dict[str, int] = {}
        self.max_hlc: Hlc = HLC_ZERO
        self.warnings: list[LogWarning] = []
        #: called with every record this replayer applies, by any catch-up
        self.subscribers: list[Callable[[Record], None]] = []
        # shards changed since their clocks were checked / their tasks extracted
        self._unchecked: set[str] = set()
        self._stale: set[str] = set()
        self._partials: dict[str, list[Partial]] = {}
        self._memo = Memo()
        # shard -> clients whose declared clock the shard cannot reach
        self._short: dict[str, set[int]] = {}
        self._reported_gaps: set[tuple[str, int]] = set()
        #: shards whose tasks were re-extracted since ``take_extracted`` was last called
        self._extracted: set[str] = set()
        self._writers: dict[str, _Writer] = {}
        # shard -> writer client id -> clock its last applied record declares
        self._expected: dict[str, dict[int, int]] = {}
        # per log: digest of the line before the cursor, as restored from the cache
        self._tails: dict[str, str] = {}
        if base is not None:
            self.restore(base)

    def catch_up(
        self,
        names: Iterable[str] | None = None,
        sink: Callable[[Record], None] | None = None,
    ) -> int:
        """Read and apply whatever was appended since the last call.

        Args:
            names: log file names to read; all logs in the folder by default.
            sink: called with each record as it is applied.

        Returns:
            The number of records applied.
        """
        if names is None:
            names = sorted(scan_logs(self.logs_dir))
        applied = 0
        with self.replica.batched():
            for name in names:
                applied += self._read_file(name, sink)
        self._check_clocks()
        for writer, missing, held in self.held_back():
            if (writer, missing) not in self._reported_gaps:
                self._reported_gaps.add((writer, missing))
                self.warnings.append(
                    LogWarning(
                        "",
                        0,
                        f"writer {writer}: seq {missing} is missing or unreadable; "
                        f"{held} later record(s) of it are not applied",
                        "gap",
                    )
                )
        return applied

    def writer_damaged(self, writer: str) -> str | None:
        """Why a writer must not append any more, or None when it may.

        A writer whose own records are held back behind a gap, or whose
        updates a shard cannot integrate, would build its next update on a
        document that lacks some of its own earlier ones -- and reuse their
        pycrdt clocks, which corrupts every replica that has them.
        """
        progress = self._writers.get(writer)
        if progress is not None and progress.pending:
            return f"seq {progress.applied + 1} of its log is missing or unreadable"
        client = int(writer, 16)
        for shard, clients in sorted(self._short.items()):
            if client in clients:
                return f"some of its updates in shard {shard} cannot be integrated"
        return None

    def _read_file(self, name: str, sink: Callable[[Record], None] | None) -> int:
        cursor = self.cursors.setdefault(name, Cursor())
        head = self.heads.setdefault(name, LogHead())
        path = self.logs_dir / name
        applied = 0
        for line in cursor.read(path):
            record = self._parse(name, line)
            if record is None:
                continue
            if record.seq > head.seq:
                head.seq = record.seq
                head.line = line.data
            applied += self._offer(name, line.number, record, line.data, sink)
        tail = cursor.tail
        if tail and self.torn.get(name) != cursor.offset:
            self.warnings.append(
                LogWarning(
                    name, cursor.line, "torn last line (a writer died mid-append), skipped", "torn"
                )
            )
        self.torn[name] = cursor.offset if tail else -1
        return applied

    def _parse(self, name: str, line: Line) -> Record | None:
        if not line.data.strip():
            self.warnings.append(LogWarning(name, line.number, "empty line, skipped"))
            return None
        if line.data.endswith(TORN_MARK[:-1]):
            self.warnings.append(
                LogWarning(name, line.number, "torn write of a crashed writer, skipped", "torn")
            )
            return None
        try:
            return parse_record(line.data)
        except BadRecord as exc:
            self.warnings.append(LogWarning(name, line.number, f"{exc}, skipped"))
            return None

    def _offer(
        self,
        name: str,
        number: int,
        record: Record,
        data: bytes,
        sink: Callable[[Record], None] | None,
    ) -> int:
        if self.until_ms is not None and record.hlc.ms > self.until_ms:
            return 0
        progress = self._writers.setdefault(record.writer, _Writer())
        if record.seq <= progress.applied or record.seq in progress.pending:
            return 0  # already applied (or waiting): a duplicate
        if record.seq != progress.applied + 1:
            progress.pending[record.seq] = (name, number, record, data)
            return 0
        count = 0
        while True:
            self._apply(name, number, record)
            progress.applied = record.seq
            count += 1
            if sink is not None:
                sink(record)
            for subscriber in self.subscribers:
                subscriber(record)
            nxt = progress.pending.pop(record.seq + 1, None)
            if nxt is None:
                return count
            name, number, record, data = nxt

    def _apply(self, name: str, number: int, record: Record) -> None:
        try:
            updates = {s: _decode(data) for s, data in record.updates.items()}
        except (binascii.Error, ValueError):
            self.warnings.append(
                LogWarning(name, number, "update is not base64, skipped", "update")
            )
            return
        client = int(record.writer, 16)
        for shard, update in updates.items():
            try:
                self.replica.apply(shard, update)
            except RejectedUpdate as exc:
                self.warnings.append(LogWarning(name, number, f"{exc}, skipped", "update"))
                continue
            self._unchecked.add(shard)
            self._stale.add(shard)
            self._expected.setdefault(shard, {})[client] = record.clocks[shard]
        if record.hlc > self.max_hlc:
            self.max_hlc = record.hlc

    def state(self) -> State:
        """Every task read so far: shards this replayer changed are resolved again
        from their documents; the others come from the base it started from."""
        for shard in sorted(self._stale):
            parts = []
            for task_id, raw in self.replica.extract(shard).items():
                if not (is_task_id(task_id) and task_id.startswith(shard)):
                    continue  # a forged update's key: never a file name, never a task
                part = resolve_task(task_id, raw, self._memo)
                if part is not None:
                    parts.append(part)
            self._partials[shard] = parts
        self._extracted |= self._stale
        self._stale.clear()
        fresh = {
            shard: {p.task.id: p.task for p in parts} for shard, parts in self._partials.items()
        }
        registers: RawEdges = {}
        rows: Mapping[str, Row] = {}
        if self.base is not None:
            registers = {k: v for k, v in self.base.edges.items() if k[:2] not in fresh}
            rows = self.base.rows
        for parts in self._partials.values():
            for part in parts:
                if part.edges:
                    registers[part.task.id] = raw_edges(part)
        self.edges = registers
        load = None if self.base is None else self.base.tasks
        return State.assemble(fresh, rows, registers, load)

    def fresh_tasks(self, shard: str) -> dict[str, Task]:
        """A shard's tasks as this replayer resolved them (without derived edges)."""
        return {p.task.id: p.task for p in self._partials.get(shard, ())}

    # ---------------------------------------------------------- persistence

    def progress(self) -> dict[str, object]:
        """Everything needed to resume from the current cursors (saved in the cache head)."""
        return {
            "writers": {w: p.applied for w, p in self._writers.items()},
            "pending": [
                [name, number, data.decode()]
                for p in self._writers.values()
                for name, number, _, data in p.pending.values()
            ],
            "heads": {name: [h.seq, h.digest] for name, h in self.heads.items()},
            "expected": {s: {str(c): k for c, k in v.items()} for s, v in self._expected.items()},
            "short": {s: sorted(v) for s, v in self._short.items()},
            "max_hlc": self.max_hlc.to_json(),
            "torn": self.torn,
            "tails": {
                name: digest(c.last) if c.last is not None else self._tails.get(name, GENESIS)
                for name, c in self.cursors.items()
            },
        }

    def restore(self, base: Base) -> None:
        """Resume where ``base`` stopped (raises ValueError, KeyError, TypeError when malformed)."""
        progress: dict[str, Any] = dict(base.progress)
        for name, (_, _, _, offset, line) in base.logs.items():
            self.cursors[name] = Cursor(offset, line)
        for writer, applied in progress["writers"].items():
            self._writers[writer] = _Writer(int(applied))
        for name, number, text in progress["pending"]:
            data = text.encode()
            record = parse_record(data)
            self._writers.setdefault(record.writer, _Writer()).pending[record.seq] = (
                name, int(number), record, data,
            )  # fmt: skip
        for name, (seq, known) in progress["heads"].items():
            self.heads[name] = LogHead(int(seq), b"", str(known))
        for shard, clocks in progress["expected"].items():
            self._expected[shard] = {int(c): int(k) for c, k in clocks.items()}
        for shard, clients in progress["short"].items():
            self._short[shard] = {int(c) for c in clients}
        self.max_hlc = Hlc(*progress["max_hlc"])
        self.torn = {str(k): int(v) for k, v in progress["torn"].items()}
        self._tails = {str(k): str(v) for k, v in progress["tails"].items()}

    def take_extracted(self) -> frozenset[str]:
        """Shards whose tasks were re-extracted since the last call (and forget them)."""
        out = frozenset(self._extracted)
        self._extracted.clear()
        return out

    def held_back(self) -> Iterator[tuple[str, int, int]]:
        """Writers with records waiting for a missing one: (writer, missing seq, held)."""
        for writer, progress in sorted(self._writers.items()):
            if progress.pending:
                yield writer, progress.applied + 1, len(progress.pending)

    def _short_shards(self, shards: Iterable[str]) -> list[str]:
        short = []
        for shard in sorted(shards):
            expected = self._expected.get(shard)
            if not expected:
                continue
            state = self.replica.state(shard)
            if any(state.get(client, 0) < clock for client, clock in expected.items()):
                short.append(shard)
        return short

    def _check_snapshot(self, shard: str) -> None:
        """A shard loaded from the cache must hold every clock the cache's progress declares.

        An empty, truncated or swapped snapshot falls short: the cache is
        dropped and the state rebuilt from the logs.
        """
        if self._short_shards([shard]):
            raise CacheBroken(f"snapshot of shard {shard} falls short of its declared clocks")

    def _check_clocks(self) -> None:
        checked = set(self._unchecked)
        short = self._short_shards(self._unchecked)
        self._unchecked.clear()
        for shard in checked:
            self._short.pop(shard, None)
        if not short:
            return
        for shard in short:
            self._rebuild(shard)
        for shard in self._short_shards(short):
            state = self.replica.state(shard)
            for client, clock in sorted(self._expected[shard].items()):
                have = state.get(client, 0)
                if have < clock:
                    self._short.setdefault(shard, set()).add(client)
                    self.warnings.append(
                        LogWarning(
                            "",
                            0,
                            f"shard {shard}: writer {client:013x} is at clock {have}, its log "
                            f"declares {clock}; some of its updates cannot be integrated",
                            "clock",
                        )
                    )

    def _rebuild(self, shard: str) -> None:
        """Re-fold one shard from the logs in strict per-writer order."""
        by_writer: dict[str, dict[int, bytes]] = {}
        for name, cursor in self.cursors.items():
            limit = Cursor()
            for line in limit.read(self.logs_dir / name):
                if line.offset >= cursor.offset:
                    break
                try:
                    record = parse_record(line.data)
                    data = _decode(record.updates[shard])
                except (BadRecord, KeyError, binascii.Error, ValueError):
                    continue
                applied = self._writers.get(record.writer)
                if applied is not None and record.seq <= applied.applied:
                    by_writer.setdefault(record.writer, {}).setdefault(record.seq, data)
        self.replica.reset(shard)
        for writer in sorted(by_writer):
            for seq in sorted(by_writer[writer]):
                try:
                    self.replica.apply(shard, by_writer[writer][seq])
                except RejectedUpdate:
                    continue
