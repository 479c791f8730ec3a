"""The service's audit side: history, conflicts, blame, sessions, verify.

A mixin of ``Ledger`` (``_ledger``): every method reads the audit trail the
replay accepted (``Reader.trail``), so history never shows what the state
skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Unpack

if TYPE_CHECKING:
    from ._audit import Conflict, TrailFilter
    from ._layout import Layout
    from ._log import Record
    from ._model import Json, Stamp
    from ._reader import Reader
    from ._sessions import SessionInfo
    from ._state import State
    from ._verify import Report


class AuditTrail:
    """History, conflicts, blame, sessions and verify over one list."""

    layout: Layout
    reader: Reader
    clock: Callable[[], int]

    def state(self) -> State:
        raise NotImplementedError

    def seen(self) -> State:
        raise NotImplementedError

    def _adopt(self) -> None:
        raise NotImplementedError

    def _trail(self) -> list[Record]:
        self._adopt()
        return list(self.reader.trail())

    def history(self, ref: str | None = None, **only: Unpack[TrailFilter]) -> list[Record]:
        """The audit trail in causal (HLC) order, optionally filtered: ``session``,
        ``since_ms``, ``until_ms``, ``ops``, ``limit`` (``_audit.select``).

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        from ._audit import select

        task_id = self.state().resolve(ref) if ref is not None else None
        return select(self._trail(), task_id, **only)

    def conflicts(self, ref: str | None = None) -> list[Conflict]:
        """Same-field writes whose value lost to a write that had not seen them.

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        from ._audit import conflicts

        task_id = self.state().resolve(ref) if ref is not None else None
        return [c for c in conflicts(self._trail()) if task_id is None or c.task == task_id]

    def blame(self, ref: str) -> list[tuple[str, Json, Stamp]]:
        """For each current field of a task: its value and the write that set it.

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        from ._audit import blame

        state = self.seen()
        task_id = state.resolve(ref)
        return blame(state, task_id, self.history(task_id))

    def sessions(self) -> list[SessionInfo]:
        """Every session seen in the logs or running now: activity, holdings, liveness."""
        from ._machines import writer_machines
        from ._sessions import read_presence, sessions

        records = self._trail()
        presence = read_presence(self.layout)
        return sessions(records, self.seen(), presence, self.clock(), writer_machines(self.layout))

    def verify(self) -> Report:
        """Check every log for damage and tampering (see ``_verify``)."""
        from ._verify import changed_logs, verify

        self._adopt()
        return verify(self.layout, changed_logs(self.layout), self.clock())
