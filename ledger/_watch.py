"""Follow a list live: every op as it lands, with the task files kept current.

A ``Follower`` wakes up when a log grows (watchfiles: inotify on Linux) or a
task file is removed or replaced, reads only the new bytes of each log (the
ledger's replayer keeps a cursor per file, and stops before a line that is
not finished yet), applies them, brings the view and the task files up to
date, and hands out the new ops in HLC order. With ``poll_s`` it checks the
logs' sizes itself instead, for file systems that deliver no change
notifications (network mounts); watchfiles' own polling is not used because
it compares mtimes, whose one-second resolution on some file systems hides
a second append within the same second.

While it runs it keeps a presence file beating, so ``sessions`` shows its
session as live.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._log import Record, make_dirs
from ._model import Task
from ._presence import Beacon

if TYPE_CHECKING:
    from watchfiles import Change

    from ._store import Ledger

_TASK_FILE = re.compile(r"[0-9a-f]{16}\.json")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One op that just landed.

    Attributes:
        record: the op's record.
        task: its task as it stands after the batch the op arrived in (None if
            the task is unknown, e.g. its create has not arrived yet).
    """

    record: Record
    task: Task | None


class Follower:
    """Follows one list's logs and yields batches of new ops.

    Use as a context manager, then iterate (blocking) or ``async for``::

        with Follower(ledger) as follower:
            for batch in follower:
                ...

    Args:
        ledger: the list to follow.
        poll_s: poll the logs' sizes every this many seconds instead of
            waiting for change notifications.
        debounce_ms: watchfiles' debounce (its default, 1600 ms, is far too
            slow for a live view).
        step_ms: watchfiles' step: how long to wait for more changes after one.
        presence: the kind to announce in the presence file (None: none).
        heartbeat_s: how often the presence file beats.
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
    ) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.heartbeat_ms = max(int(heartbeat_s * 1000), 1)
        self.stop_event = threading.Event()
        self._kind = presence
        self._beacon: Beacon | None = None
        self._batch: list[Record] = []
        self._seen: dict[str, int] = {}
        self._unsubscribe: Callable[[], None] | None = None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Follower:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Catch up silently (the past is ``history``'s), then start listening."""
        layout = self.ledger.layout
        make_dirs(layout.logs)
        self._unsubscribe = self.ledger.subscribe(self._batch.append)
        self.ledger.refresh()
        for record in self._batch:
            self._remember(record)
        self._batch.clear()
        if self._kind is not None:
            self._beacon = Beacon(
                layout.presence, self.ledger.session, self._kind, self.heartbeat_ms,
                self.ledger.clock,
            )  # fmt: skip
            self._beacon.beat()

    def close(self) -> None:
        """Stop listening and remove the presence file."""
        self.stop_event.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._beacon is not None:
            self._beacon.stop()
            self._beacon = None

    def _remember(self, record: Record) -> bool:
        if record.seq <= self._seen.get(record.writer, 0):
            return False
        self._seen[record.writer] = record.seq
        return True

    # ------------------------------------------------------------- one step

    def step(self) -> list[LiveEvent]:
        """Read what landed since the last step and return the new ops (no file is written)."""
        if self._beacon is not None:
            self._beacon.beat_if_due()
        state = self.ledger.read_new()
        fresh = sorted((r for r in self._batch if self._remember(r)), key=lambda r: r.key)
        self._batch.clear()
        return [LiveEvent(r, state.tasks.get(r.task)) for r in fresh]

    def settle(self) -> None:
        """Bring the view and the task files up to date (repairing removed ones).

        Ops that land meanwhile are kept for the next ``step``.
        """
        self.ledger.refresh(rounds=1)

    # ------------------------------------------------------------ iterating

    def _accept(self, change: Change, path: str) -> bool:
        folder, name = os.path.split(path)
        if folder == str(self.ledger.layout.logs):
            return name.endswith(".jsonl")
        return folder == str(self.ledger.layout.root) and bool(_TASK_FILE.fullmatch(name))

    def __iter__(self) -> Iterator[list[LiveEvent]]:
        if self.poll_s is not None:
            while not self.stop_event.is_set():
                batch = self.step()
                if batch:
                    yield batch
                self.settle()
                self.stop_event.wait(self.poll_s)
            return
        from watchfiles import watch

        for _ in watch(
            self.ledger.layout.root,
            watch_filter=self._accept,
            debounce=self.debounce_ms,
            step=self.step_ms,
            rust_timeout=self.heartbeat_ms,
            yield_on_timeout=True,
            stop_event=self.stop_event,
        ):
            batch = self.step()
            if batch:
                yield batch  # printed before the files are written
            self.settle()

    async def __aiter__(self) -> AsyncIterator[list[LiveEvent]]:
        if self.poll_s is not None:
            while not self.stop_event.is_set():
                batch = self.step()
                if batch:
                    yield batch
                self.settle()
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
            async for _ in awatch(
                self.ledger.layout.root,
                watch_filter=self._accept,
                debounce=self.debounce_ms,
                step=self.step_ms,
                rust_timeout=self.heartbeat_ms,
                yield_on_timeout=True,
                stop_event=stop,
            ):
                batch = self.step()
                if batch:
                    yield batch
                self.settle()
        finally:
            relay_task.cancel()
