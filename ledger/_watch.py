"""Follow a list live: every op as it lands, with Claude Code's folder kept in line.

A ``Follower`` wakes up when a log grows or a task file changes (watchfiles:
inotify on Linux), reads only the new bytes of each log through the ledger's
long-lived reader (which stops before a line that is not finished yet), and
hands out the new ops in HLC order; then it brings the folder in line --
recording what Claude Code wrote there as ops, rewriting files someone
removed -- and writes a snapshot for the next reader. With ``poll_s`` it
checks on a timer instead, for file systems that deliver no change
notifications (network mounts); watchfiles' own polling is not used because
it compares mtimes, whose one-second resolution on some file systems hides
a second append within the same second.

While it runs it keeps a presence file beating, so ``sessions`` shows its
session as live.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from ._audit import touches
from ._datatype import datatype
from ._errors import StorageError
from ._log import Record
from ._model import Task
from ._sessions import Beacon

if TYPE_CHECKING:
    from watchfiles import Change

    from ._ledger import Ledger


@datatype(frozen=True)
class LiveEvent:
    """One op that just landed.

    Attributes:
        record: the op's record.
        task: its task as it stands after the batch the op arrived in (None if
            the task is unknown, e.g. its create has not arrived yet).
    """

    record: Record
    task: Task | None


@datatype(frozen=True)
class Filter:
    """Which ops a follower hands out.

    Attributes:
        task: only ops that concern this task (its id, or a prefix of one yet to come).
        session: only ops by this session.
    """

    task: str | None = None
    session: str | None = None

    def keeps(self, record: Record) -> bool:
        """Whether the filter lets an op through."""
        if self.session is not None and record.session != self.session:
            return False
        if self.task is None:
            return True
        if len(self.task) == 16:
            return touches(record, self.task)
        ends = [record.task]
        for side in ("blocks", "blockedBy"):
            edges = record.fields.get(side)
            if isinstance(edges, dict):
                ends += [str(k) for k in edges]
        return any(end.startswith(self.task) for end in ends)


class Follower:
    """Follows one list's logs and yields batches of new ops.

    Use as a context manager, then iterate (blocking) or ``async for``::

        with Follower(ledger) as follower:
            for batch in follower:
                ...

    Args:
        ledger: the list to follow (a long-lived ledger).
        poll_s: poll on a timer instead of waiting for change notifications.
        debounce_ms: watchfiles' debounce (its default, 1600 ms, is far too
            slow for a live view).
        step_ms: watchfiles' step: how long to wait for more changes after one.
        presence: the kind to announce in the presence file (None: none).
        heartbeat_s: how often the presence file beats.
        only: which ops to hand out.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        poll_s: float | None = None,
        debounce_ms: int = 50,
        step_ms: int = 1,
        presence: str | None = "watch",
        heartbeat_s: float = 5.0,
        only: Filter | None = None,
    ) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.heartbeat_ms = max(int(heartbeat_s * 1000), 1)
        self.only = only or Filter()
        self.stop_event = threading.Event()
        self._kind = presence
        self._beacon: Beacon | None = None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Follower:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Catch up silently (the past is ``history``'s), then start listening."""
        layout = self.ledger.layout
        for folder in (layout.open("logs", create=True), layout.open_view(create=True)):
            if folder is not None:
                folder.close()
        self.ledger.reader.collecting = True
        self.ledger.state()
        self.ledger.reader.fresh_records = []
        if self._kind is not None:
            self._beacon = Beacon(
                layout, self.ledger.session, self._kind, self.heartbeat_ms, self.ledger.clock
            )
            self._beacon.beat()

    def close(self) -> None:
        """Stop listening and remove the presence file."""
        self.stop_event.set()
        if self._beacon is not None:
            self._beacon.stop()
            self._beacon = None

    # ------------------------------------------------------------- one step

    def step(self) -> list[LiveEvent]:
        """Read what landed since the last step and return the new ops (no file is written)."""
        if self._beacon is not None:
            self._beacon.beat_if_due()
        reader = self.ledger.reader
        state = self.ledger.seen()
        fresh, reader.fresh_records = reader.fresh_records, []
        kept = sorted((r for r in fresh if self.only.keeps(r)), key=lambda r: r.key)
        return [LiveEvent(r, state.tasks.get(r.task)) for r in kept]

    def settle(self) -> None:
        """Bring the folder in line and write a snapshot (ops that land meanwhile wait)."""
        try:
            self.ledger.state()
            self.ledger.reader.save(force=True)
        except StorageError as exc:
            self.ledger.warnings.append(str(exc))

    # ------------------------------------------------------------ iterating

    def _paths(self) -> list[str]:
        layout = self.ledger.layout
        return [str(layout.logs), str(layout.view)]

    def _accept(self, change: Change, path: str) -> bool:
        return path.endswith((".jsonl", ".json", ".lock"))

    def _batch(self) -> list[LiveEvent]:
        batch = self.step()
        self.settle()
        batch += self.step()  # what Claude Code wrote, now recorded
        return batch

    def __iter__(self) -> Iterator[list[LiveEvent]]:
        if self.poll_s is not None:
            while not self.stop_event.is_set():
                batch = self._batch()
                if batch:
                    yield batch
                self.stop_event.wait(self.poll_s)
            return
        from watchfiles import watch

        for changes in watch(
            *self._paths(),
            watch_filter=self._accept,
            debounce=self.debounce_ms,
            step=self.step_ms,
            rust_timeout=self.heartbeat_ms,
            yield_on_timeout=True,
            stop_event=self.stop_event,
        ):
            self._notice(changes)
            batch = self._batch()
            if batch:
                yield batch

    def _notice(self, changes: set[tuple[Change, str]]) -> None:
        """Task files the notifications name are looked at, even if the folder's stamp
        did not move (a file rewritten in place by hand)."""
        view = str(self.ledger.layout.view) + os.sep
        names = {
            p[len(view) : -5] for _, p in changes if p.startswith(view) and p.endswith(".json")
        }
        self.ledger.notice(names)

    async def __aiter__(self) -> AsyncIterator[list[LiveEvent]]:
        if self.poll_s is not None:
            while not self.stop_event.is_set():
                batch = await asyncio.to_thread(self._batch)
                if batch:
                    yield batch
                await asyncio.sleep(self.poll_s)
            return
        from watchfiles import awatch

        stop = asyncio.Event()

        async def relay() -> None:
            while not self.stop_event.is_set():
                await asyncio.sleep(0.05)
            stop.set()

        relay_task = asyncio.create_task(relay())
        try:
            async for changes in awatch(
                *self._paths(),
                watch_filter=self._accept,
                debounce=self.debounce_ms,
                step=self.step_ms,
                rust_timeout=self.heartbeat_ms,
                yield_on_timeout=True,
                stop_event=stop,
            ):
                self._notice(changes)
                batch = self._batch()
                if batch:
                    yield batch
        finally:
            relay_task.cancel()
