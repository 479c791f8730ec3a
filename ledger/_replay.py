"""Logs -> shard documents -> state: the one path from records to state.

A ``Replayer`` reads each log from where it stopped (a cursor per file), so
the same object serves a full replay, catching up on new appends, following
logs live and time travel (``until_ms``). It can start from a snapshot
(``base``) instead of the first byte of every log, and read a subset of the
logs (``names``).

A record is read only from the log named after its own session and writer,
and accepted in its writer's order, once (``_accept``: duplicates, gaps, and a
writer id that two logs name). The state is a function of the files present,
whatever order they were read or appeared in. Lines that are torn, not strict
JSON, of an unknown version or malformed, and updates pycrdt rejects, are
skipped with one warning each (``_log.classify`` words them); nothing stops
a replay.

Accepted updates wait in their shard's queue and are applied when the shard
is needed (``Shards``), so a writer catches up only on what its op touches.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

from ._accept import Acceptance
from ._cache_format import LogMark, gc_paused
from ._errors import CacheBroken, StorageError
from ._fs import Dir
from ._ids import parse_log_name
from ._index import Index
from ._layout import scan_logs
from ._log import (
    GENESIS,
    Cursor,
    LogWarning,
    Record,
    classify,
    digest,
    line_before,
    parse_record,
    torn_tail,
)
from ._model import HLC_ZERO, Hlc, Partial
from ._shards import Shards
from ._snapshot import Base
from ._state import State
from ._timeparse import wall_ms

#: a record stamped more than a day ahead of the reader's clock does not move writers' clocks
MAX_AHEAD_MS = 86_400_000
_decode = binascii.a2b_base64


class _Dropped(list[Record]):
    """An ``accepted`` list that keeps nothing (a replay of 1M ops holds no records)."""

    def append(self, record: Record) -> None:
        pass


class Replayer:
    """Reads logs into shard documents and an index; answers tasks and states.

    Args:
        logs: the logs folder.
        trusted: the folder above it that may be reached through links
            (default: the folder holding ``logs``' parent).
        base: a snapshot to start from, instead of the first byte of every log.
        until_ms: accept only records whose HLC is at or before this moment.
        names: read only these log files.
        client_id: the pycrdt client id that writes through this replayer.
        clock: epoch-milliseconds wall clock.
        machine: this machine's id (tasks Claude Code numbered here show by number).
        inspect: called with each accepted record and its decoded updates
            instead of queueing them (``verify`` applies and checks each).
    """

    def __init__(
        self,
        logs: Path,
        *,
        trusted: Path | None = None,
        base: Base | None = None,
        until_ms: int | None = None,
        names: Collection[str] | None = None,
        client_id: int | None = None,
        clock: Callable[[], int] = wall_ms,
        machine: str | None = None,
        inspect: Callable[[Record, str, int, dict[str, bytes]], None] | None = None,
    ) -> None:
        self.inspect = inspect
        self.logs = logs
        self.trusted = trusted if trusted is not None else logs.parent.parent
        self.until_ms = until_ms
        self.names = None if names is None else frozenset(names)
        self.clock = clock
        self.cursors: dict[str, Cursor] = {}
        self.heads: dict[str, tuple[int, bytes | None, str]] = {}
        #: per writer, the HLC of its last accepted record
        self.last_hlc: dict[str, Hlc] = {}
        self.warnings: list[LogWarning] = []
        self._warned: set[tuple[str, int, str]] = set()
        self._torn: dict[str, int] = {}
        self._base_marks: dict[str, LogMark] = {}
        self.accept = Acceptance(self._accept, self._warn)
        self.index = (
            Index(machine=machine)
            if base is None
            else Index(base.rows, base.edges, base.derived, machine, base.aliases)
        )
        if base is not None:
            self.index.unview(base.unviewed)  # (their files are looked at)
        self.shards = Shards(self.index, base, client_id, self._warn)
        self.shards.recover = self._recover_shard
        self._machine = machine
        self._fresh: Replayer | None = None
        if base is not None:
            self._restore(base)

    # ----------------------------------------------------------------- reading

    def open_logs(self) -> Dir | None:
        """The logs folder, opened (None: there is none yet)."""
        try:
            return Dir.open(self.logs, self.trusted)
        except OSError as exc:
            raise StorageError(f"cannot open the logs in {self.logs}: {exc.strerror}") from exc

    def catch_up(
        self,
        stats: dict[str, os.stat_result] | None = None,
        order: Collection[str] | None = None,
        *,
        keep: bool = False,
    ) -> list[Record]:
        """Read and accept whatever was appended since the last call.

        Args:
            stats: the logs as just listed (``scan_logs``), to save a listing.
            order: read the logs in this order (default: by name); the state
                read does not depend on it.
            keep: return the records accepted (a follower hands them out);
                otherwise none is kept once its updates are queued.

        Returns:
            The records accepted by this call, in acceptance order (``keep``).
        """
        folder = self.open_logs()
        if folder is None:
            return []
        accepted: list[Record] = [] if keep else _Dropped()
        with folder, gc_paused():
            found = scan_logs(folder) if stats is None else stats
            names = sorted(found) if order is None else [n for n in order if n in found]
            if self.names is not None:
                names = [n for n in names if n in self.names]
            self.accept.note_logs(names)
            for name in names:
                self._read(folder, name, found[name], accepted)
            self.accept.release_shared(accepted)
            self.shards.settle_all()
        self.accept.report_gaps()
        return accepted

    @property
    def multi(self) -> set[str]:
        """Writers more than one log names (every read of them replays; ``_accept``)."""
        return self.accept.shared

    def _read(self, folder: Dir, name: str, st: os.stat_result, accepted: list[Record]) -> None:
        cursor = self.cursors.get(name)
        if cursor is None:
            cursor = self.cursors[name] = Cursor()
        if cursor.offset + cursor.tail == st.st_size and cursor.offset:
            return  # nothing new (a torn tail stays as it was)
        owner = parse_log_name(name)
        try:
            for line in cursor.read(folder, name):
                item = classify(name, line)
                if type(item) is LogWarning:
                    self._warn(item)
                    continue
                record: Record = item  # type: ignore[assignment]
                if owner != (record.session, record.writer):
                    self._warn(
                        LogWarning(
                            name,
                            line.number,
                            f"record of session {record.session!r} writer {record.writer} "
                            "in another writer's log, skipped",
                            "foreign",
                        )
                    )
                    continue
                seq, _, _ = self.heads.get(name, (0, None, ""))
                if record.seq > seq:
                    self.heads[name] = (record.seq, line.data, "")
                if self.until_ms is None or record.hlc.ms <= self.until_ms:
                    self.accept.offer(name, line.number, record, line.data, accepted)
        except StorageError as exc:
            self._warn(LogWarning(name, 0, f"{exc}, skipped", "file"))
            return
        if cursor.tail and self._torn.get(name) != cursor.offset:
            self._warn(torn_tail(name, cursor))
        self._torn[name] = cursor.offset if cursor.tail else -1

    def _warn(self, warning: LogWarning) -> None:
        key = (warning.file, warning.line, warning.problem)
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(warning)

    def take_warnings(self) -> list[LogWarning]:
        """The warnings collected since the last call (each is reported once)."""
        out, self.warnings = self.warnings, []
        return out

    # --------------------------------------------------------------- accepting

    def _accept(self, name: str, number: int, record: Record) -> None:
        try:
            updates = {s: _decode(data) for s, data in record.updates.items()}
        except (binascii.Error, ValueError):
            self._warn(LogWarning(name, number, "update is not base64, skipped", "update"))
            self.shards.rejected.add(record.ref)
            return
        if self.inspect is not None:
            self.inspect(record, name, number, updates)
        else:
            self.shards.queue(record, updates, name, number)
        self._clock(record)

    def _clock(self, record: Record) -> None:
        self.last_hlc[record.writer] = record.hlc

    def clock_base(self, writer: str, now_ms: int) -> Hlc:
        """The HLC a writer's next op must follow: the latest of every writer read,
        but not of one stamped more than ``MAX_AHEAD_MS`` ahead of ``now_ms`` (a
        record far in the future must not take the list's clock with it) --
        and always the writer's own latest, so its log never goes back."""
        limit = now_ms + MAX_AHEAD_MS
        sane = [h for h in self.last_hlc.values() if h.ms <= limit]
        return max([HLC_ZERO, *sane, self.last_hlc.get(writer, HLC_ZERO)])

    def own(self, name: str, record: Record, line: bytes, at: int = -1) -> None:
        """Take in a record this replayer's documents just wrote and its writer appended
        (``at``: the offset its line starts at, when known); a log read up to there
        is read past it, not read again."""
        self.accept.own(name, record, line)
        self.heads[name] = (record.seq, line, "")
        self._clock(record)
        cursor = self.cursors.get(name)
        if at >= 0 and cursor is not None and cursor.offset == at and not cursor.tail:
            cursor.offset += len(line) + 1
            cursor.line += 1
            cursor.last = line

    def held_back(self) -> Iterator[tuple[str, int, int]]:
        """Writers with records waiting for a missing one: (writer, missing seq, held)."""
        return self.accept.held_back()

    def writer_damaged(self, writer: str, shards: Collection[str]) -> str | None:
        """Why a writer must not append to these shards any more, or None when it may.

        A writer whose own records are held back behind a gap, or whose
        updates a shard cannot integrate, would build its next update on a
        document that lacks some of its own earlier ones -- and reuse their
        pycrdt clocks, which corrupts every replica that has them.
        """
        last = self.last_hlc.get(writer, HLC_ZERO)
        if last.ms > self.clock() + MAX_AHEAD_MS:
            return f"its clock ran ahead to {last}"
        damage = self.accept.damaged(writer)
        if damage is not None:
            return damage
        client = int(writer, 16)
        for shard in sorted(shards):
            if self.shards.short_of(shard, client):
                return f"some of its updates in shard {shard} cannot be integrated"
        return None

    def head(self, name: str) -> tuple[int, str]:
        """The (seq, digest) of the last record read from a log; (0, genesis) if none."""
        seq, line, known = self.heads.get(name, (0, None, GENESIS))
        if line is None:
            return seq, known
        return seq, digest(line)

    # ------------------------------------------------------------------ state

    def state(self) -> State:
        """Every task read so far, as an immutable state."""
        with gc_paused():  # (sorting 100k rows must not set off a full collection of them)
            return self.index.state(self.shards.frozen())

    def _recover_shard(self, shard: str) -> Mapping[str, Partial]:
        """A shard's tasks replayed from the first byte of every log (its snapshot is damaged)."""
        if self._fresh is None:
            self._fresh = Replayer(
                self.logs, trusted=self.trusted, until_ms=self.until_ms, names=self.names,
                clock=self.clock, machine=self._machine,
            )  # fmt: skip
            self._fresh.catch_up()
        return self._fresh.shards.settle(shard)

    def task_ids(self, shard: str) -> list[str]:
        """The ids of one shard's tasks (applying what waits for it)."""
        return list(self.shards.settle(shard))

    # ------------------------------------------------------------ persistence

    def marks(self, stats: dict[str, os.stat_result]) -> dict[str, LogMark]:
        """Where each log was read to, with the file as it was (for a snapshot's head)."""
        out = {}
        for name, cursor in self.cursors.items():
            st = stats.get(name)
            read = cursor.offset + cursor.tail
            last = digest(cursor.last) if cursor.last is not None else self._tail(name)
            if st is None:
                out[name] = LogMark(-1, read, -1, cursor.offset, cursor.line, last)
            elif read == st.st_size:
                out[name] = LogMark(
                    st.st_ino, st.st_size, st.st_mtime_ns, cursor.offset, cursor.line, last
                )
            else:  # it grew meanwhile: not fresh, but the offsets hold
                out[name] = LogMark(st.st_ino, read, -1, cursor.offset, cursor.line, last)
        return out

    def _tail(self, name: str) -> str:
        mark = self._base_marks.get(name)
        return GENESIS if mark is None else mark.last

    def writer_marks(self) -> dict[str, tuple[int, int, int]]:
        """Per writer, the highest seq accepted and its record's HLC (for a snapshot)."""
        out = {}
        for writer, progress in self.accept.writers.items():
            hlc = self.last_hlc.get(writer, HLC_ZERO)
            out[writer] = (progress.applied, hlc.ms, hlc.counter)
        return out

    def pending_lines(self) -> list[tuple[str, int, bytes]]:
        """Records held back behind gaps, as (file, line, bytes)."""
        return self.accept.pending_lines()

    def _restore(self, base: Base) -> None:
        """Resume where ``base`` stopped (raises CacheBroken when it does not fit the logs)."""
        self._base_marks = dict(base.logs)
        owners = [o[1] for n in base.logs if (o := parse_log_name(n)) is not None]
        if len(owners) != len(set(owners)):
            raise CacheBroken("a writer is named by more than one log")
        folder = self.open_logs()
        stats = scan_logs(folder)
        try:
            for name, mark in base.logs.items():
                if log_changed(folder, name, mark, stats.get(name)):
                    raise CacheBroken(f"log {name} changed under the cache (logs only grow)")
                self.cursors[name] = Cursor(mark.offset, mark.line)
                self._torn[name] = -1
        finally:
            if folder is not None:
                folder.close()
        for writer, (applied, ms, counter) in base.writers.items():
            self.accept.progress(writer).applied = applied
            self.last_hlc[writer] = Hlc(ms, counter)
        for name, seq, known in base.heads:
            self.heads[name] = (seq, None, known)
        for name, number, data in base.pending:
            try:
                record = parse_record(data)
            except ValueError as exc:
                raise CacheBroken("a pending record") from exc
            self.accept.hold(name, number, record, data)
        self.shards.rejected.update(base.rejected)


def log_changed(folder: Dir | None, name: str, mark: LogMark, st: os.stat_result | None) -> bool:
    """True when a log is not what the snapshot read: shrunk, replaced, or rewritten."""
    if st is None or st.st_size < mark.offset:
        return True
    if st.st_ino == mark.ino and st.st_size == mark.size:
        return not (st.st_mtime_ns == mark.mtime_ns or mark.mtime_ns == -1)
    if folder is None:
        return True
    line = line_before(folder, name, mark.offset)
    return line is None or (digest(line) if line else GENESIS) != mark.last
