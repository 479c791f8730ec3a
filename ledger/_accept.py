"""Which records of each writer are accepted, and in what order.

pycrdt can lose data for good when two or more later updates of one client
arrive before an earlier one, so a writer's records are accepted strictly in
its sequence order: a record seen twice (a copied log, a sync) is accepted
once, and one that arrives ahead of a gap is held back until the gap fills.
The order across writers does not matter.

A writer id that more than one log names (a copied or forged file) is
*shared*: its records are held until every log was read, then accepted only
as far as all those logs agree byte for byte (``fork``). pycrdt would keep
whichever of two different updates under one client clock it saw first, so
without this two readers of the same files could disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ._datatype import datatype, field
from ._errors import CacheBroken
from ._ids import parse_log_name
from ._log import LogWarning, Record, digest

#: accepts one record: (log name, line number, record)
Take = Callable[[str, int, Record], None]
Held = tuple[str, int, Record, bytes]


@datatype
class WriterProgress:
    """How far one writer's records have been accepted.

    Attributes:
        applied: the highest seq accepted; every lower one was accepted too.
        pending: records that arrived ahead of a gap, by seq.
    """

    applied: int = 0
    pending: dict[int, Held] = field(default_factory=dict)


class Acceptance:
    """Per-writer order, duplicates, gaps and forks (see the module).

    Args:
        take: accepts one record (applies it, or queues its updates).
        warn: reports a problem once.
    """

    def __init__(self, take: Take, warn: Callable[[LogWarning], None]) -> None:
        self.take = take
        self.warn = warn
        self.writers: dict[str, WriterProgress] = {}
        #: writers named by more than one log, and per (writer, seq) the digest and log first read
        self.shared: set[str] = set()
        self._versions: dict[tuple[str, int], tuple[str, str]] = {}
        #: per writer whose logs disagree, the first seq where they do
        self.forks: dict[str, int] = {}
        self._gaps: set[tuple[str, int]] = set()

    def progress(self, writer: str) -> WriterProgress:
        found = self.writers.get(writer)
        if found is None:
            found = self.writers[writer] = WriterProgress()
        return found

    # ----------------------------------------------------------------- shared

    def note_logs(self, names: Iterable[str]) -> None:
        """Find writers that more than one log names.

        Raises:
            CacheBroken: when a writer some records were accepted for turns
                out to be shared (what was accepted may disagree with the
                other log: the reader starts again from the logs).
        """
        files: dict[str, list[str]] = {}
        for name in names:
            owner = parse_log_name(name)
            if owner is not None:
                files.setdefault(owner[1], []).append(name)
        for writer, logs in files.items():
            if len(logs) < 2 or writer in self.shared:
                continue
            progress = self.writers.get(writer)
            if progress is not None and (progress.applied or progress.pending):
                raise CacheBroken(f"writer {writer} is named by more than one log ({logs[-1]})")
            self.shared.add(writer)

    def _same_version(self, name: str, number: int, record: Record, data: bytes) -> bool:
        """Check a shared writer's record against the other logs' (False: not to be held)."""
        key = (record.writer, record.seq)
        mine = digest(data)
        known = self._versions.setdefault(key, (mine, name))
        applied = self.progress(record.writer).applied
        if known[0] == mine:
            return record.seq > applied
        if record.seq <= applied:
            raise CacheBroken(f"writer {record.writer} forks at seq {record.seq}, already applied")
        if record.seq < self.forks.get(record.writer, record.seq + 1):
            self.forks[record.writer] = record.seq
        self.warn(
            LogWarning(
                name,
                number,
                f"writer {record.writer} is also named by {known[1]}, which holds a different "
                f"seq {record.seq}; no record of it from seq {record.seq} on is applied "
                "(run verify)",
                "fork",
            )
        )
        return False

    def release_shared(self, accepted: list[Record]) -> None:
        """Accept each shared writer's records up to the first seq where its logs disagree."""
        for writer in sorted(self.shared):
            progress = self.writers.get(writer)
            if progress is None:
                continue
            fork = self.forks.get(writer)
            for seq in [s for s in progress.pending if fork is not None and s >= fork]:
                del progress.pending[seq]
            first = progress.pending.pop(progress.applied + 1, None)
            if first is not None:
                self._chain(first, progress, accepted)

    # -------------------------------------------------------------- accepting

    def offer(
        self, name: str, number: int, record: Record, data: bytes, accepted: list[Record]
    ) -> None:
        """Accept a record now, hold it behind a gap, or drop it as a duplicate."""
        progress = self.progress(record.writer)
        if record.writer in self.shared:
            if self._same_version(name, number, record, data):
                progress.pending.setdefault(record.seq, (name, number, record, data))
            return  # accepted by ``release_shared`` once every log was read
        if record.seq <= progress.applied or record.seq in progress.pending:
            return  # a duplicate
        if record.seq != progress.applied + 1:
            progress.pending[record.seq] = (name, number, record, data)
            return
        self._chain((name, number, record, data), progress, accepted)

    def _chain(self, held: Held, progress: WriterProgress, accepted: list[Record]) -> None:
        """Accept a record and every held-back one that follows it."""
        name, number, record, _ = held
        while True:
            self.take(name, number, record)
            progress.applied = record.seq
            accepted.append(record)
            nxt = progress.pending.pop(record.seq + 1, None)
            if nxt is None:
                return
            name, number, record, _ = nxt

    def own(self, name: str, record: Record, line: bytes) -> None:
        """A record this process appended (its documents already hold it)."""
        self.progress(record.writer).applied = record.seq
        if record.writer in self.shared:
            self._versions[(record.writer, record.seq)] = (digest(line), name)

    def applied(self, writer: str) -> int:
        """The highest seq of a writer accepted (0: none)."""
        progress = self.writers.get(writer)
        return 0 if progress is None else progress.applied

    # ---------------------------------------------------------------- reports

    def report_gaps(self) -> None:
        """Warn once about each writer whose records wait behind a missing one."""
        for writer, progress in self.writers.items():
            if progress.pending and (writer, progress.applied + 1) not in self._gaps:
                self._gaps.add((writer, progress.applied + 1))
                self.warn(
                    LogWarning(
                        "",
                        0,
                        f"writer {writer}: seq {progress.applied + 1} is missing or unreadable; "
                        f"{len(progress.pending)} later record(s) of it are not applied",
                        "gap",
                    )
                )

    def held_back(self) -> Iterator[tuple[str, int, int]]:
        """Writers with records waiting for a missing one: (writer, missing seq, held)."""
        for writer, progress in sorted(self.writers.items()):
            if progress.pending:
                yield writer, progress.applied + 1, len(progress.pending)

    def damaged(self, writer: str) -> str | None:
        """Why a writer's own log cannot go on (a fork, a gap), or None."""
        if writer in self.forks:
            return f"another log holds a different seq {self.forks[writer]} of it"
        progress = self.writers.get(writer)
        if progress is not None and progress.pending:
            return f"seq {progress.applied + 1} of its log is missing or unreadable"
        return None

    def pending_lines(self) -> list[tuple[str, int, bytes]]:
        """Records held back behind gaps, as (file, line, bytes)."""
        return [
            (name, number, data)
            for progress in self.writers.values()
            for name, number, _, data in progress.pending.values()
        ]

    def hold(self, name: str, number: int, record: Record, data: bytes) -> None:
        """Hold a record again that a snapshot held behind a gap."""
        self.progress(record.writer).pending[record.seq] = (name, number, record, data)
