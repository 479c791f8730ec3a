"""The service: one list, opened by one session -- a thin facade over named layers.

The layers are constructed in one visible place (``Ledger.__init__`` and its
``_construct_*`` steps, each loading only what it needs, so a read answered
from a fresh snapshot never loads pycrdt or the write path):

* ``Reader`` (``_reader``): the read path -- a fresh snapshot, else the
  replayer caught up from it; time travel and the audit trail;
* ``Writer`` (``_write``): the write step -- lock own log, catch up, decide,
  stamp, append; one per session (the acting one, and the sessions that
  Claude Code's own writes are recorded as);
* ``View`` (``_view``): Claude Code's folder -- its writes become ops first,
  then the state is written there; ``Claims`` (``_claims``): the claim service.

A command reads (``state``) or decides an op (``_decide``) and commits it through
the writer; the view then brings the files of the tasks it touched in line.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ._after_write import decided_on, look, show
from ._carry import Carry
from ._checks import DEFAULT_LEASE_S
from ._errors import InvalidValue
from ._ids import check_session
from ._layout import Layout, adopt_legacy, default_session, machine_id
from ._ledger_audit import AuditTrail
from ._ledger_sync import Replication
from ._reader import Reader
from ._settled import flush, settled
from ._state import State
from ._timeparse import wall_ms

if TYPE_CHECKING:
    from ._claims import Claims
    from ._edits import Edits
    from ._model import Op, Task
    from ._outcome import Outcome
    from ._view import View
    from ._write import Committed, Decide, Writer


class Ledger(AuditTrail, Replication):
    """One list, opened by one session.

    Args:
        layout: where the list lives.
        session: the session acting.
        clock: epoch-milliseconds clock (injectable for tests).
        long_lived: keep the replay in memory between calls (a library user,
            the MCP server, ``watch``); a CLI command reads once.
        native_session: the session that Claude Code's own writes to the
            folder are recorded as, when no hook names the session.
    """

    def __init__(
        self,
        layout: Layout,
        session: str,
        *,
        clock: Callable[[], int] = wall_ms,
        long_lived: bool = True,
        native_session: str = "claude-code",
    ) -> None:
        self.layout = layout
        self.session = session
        self.clock = clock
        self.warnings: list[str] = []
        self.native_session = native_session
        self.machine = machine_id()
        self._adopted = False
        self.reader = Reader(
            layout, clock, self.warnings, long_lived=long_lived, machine=self.machine
        )
        self._writers: dict[str, Writer] = {}
        #: the op this session's last write appended (None: it changed nothing)
        self.last_op: Op | None = None
        self._noticed: set[str] = set()
        self._view: View | None = None
        self._claims: Claims | None = None
        #: what this process's passes over Claude Code's folder have not written yet
        #: (a long-lived one writes it at most once a second, see ``_carry``)
        self._carry = Carry() if long_lived else None
        if self._carry is not None:
            weakref.finalize(self, flush, layout, self._carry)

    @classmethod
    def open(
        cls,
        home: Path | str | None = None,
        list_id: str | None = None,
        session: str | None = None,
        *,
        clock: Callable[[], int] = wall_ms,
        long_lived: bool = True,
    ) -> Ledger:
        """Open a list; missing arguments fall back to the environment (SPEC section 1).

        Raises:
            InvalidValue: for a list id or session name outside the allowed pattern.
        """
        layout = Layout.of(home, list_id)
        return cls(layout, check_session(session or default_session()), clock=clock,
                   long_lived=long_lived)  # fmt: skip

    # ------------------------------------------------------- constructing layers

    def _construct_writer(self, session: str) -> Writer:
        from ._write import Writer

        writer = self._writers.get(session)
        if writer is None:
            writer = Writer(self.layout, session, self.reader, self.clock, self.warnings)
            self._writers[session] = writer
        return writer

    def _construct_view(self) -> View:
        if self._view is None:
            from ._view import View

            self._view = View(
                self.layout, self._current, self._record_native, self.machine,
                self.warnings, self.native_session, self._carry,
            )  # fmt: skip
        return self._view

    def _current(self) -> State:
        """The state with every log caught up, for the view (which may hold a lock of
        Claude Code's: the snapshot is left to the next read)."""
        return self.reader.state(save=False)

    def _construct_claims(self) -> Claims:
        if self._claims is None:
            from ._claims import Claims

            self._claims = Claims(self.layout, self.session, self.clock, self.state, self._commit)
        return self._claims

    # --------------------------------------------------------------- the state

    def _adopt(self) -> None:
        if not self._adopted:
            self._adopted = True
            moved = adopt_legacy(self.layout)
            if moved:
                self.warnings.append(
                    f"moved this list's ledger ({len(moved)} files) from {self.layout.legacy} "
                    f"to {self.layout.root}"
                )

    def state(self) -> State:
        """The current state, with Claude Code's folder brought in line first."""
        self._adopt()
        state = self.reader.rebuilding(lambda: self.reader.state(save=False))
        changed = self.reader.take_changed()
        if self._noticed:
            changed |= {state.by_alias(n) or n for n in self._noticed}
            self._noticed = set()
        if changed or not settled(self.layout, self._carry):
            outcome = look(self._construct_view(), self.reader, changed)
            self.warnings.extend(f"task files not updated: {e}" for e in outcome.errors)
            if outcome.created and not state.rows:
                self.warnings.append(
                    f"adopted Claude Code's list {self.layout.view}: its {len(outcome.created)} "
                    "tasks are recorded in the ledger and keep their numbers"
                )
            if outcome.recorded:
                state = self.reader.state(save=False)
        self.reader.save()  # (after the pass: its head names only the files it left behind)
        return state

    def _decided_on(self, ref: str | None = None, edits: Edits | None = None) -> State:
        """The state a write decides on (``_after_write.decided_on``)."""
        links = () if edits is None else (*edits.add_blocked_by, *edits.add_blocks)
        self._adopt()
        return decided_on(self.reader, self.layout, self._carry, self._noticed, self.state,
                          ref, links)  # fmt: skip

    def flush(self, *, snapshot: bool = True) -> None:
        """Write now what a long-lived ledger holds back: its ``_carry`` (and its snapshot)."""
        if snapshot:
            self.reader.save(force=True)
        if self._carry:
            flush(self.layout, self._carry)

    def notice(self, names: Iterable[str]) -> None:
        """Look at these task files (by name) at the next read, whatever the folder says."""
        self._noticed.update(names)

    def seen(self) -> State:
        """The state a command decides on (no file is written)."""
        self._adopt()
        return self.reader.rebuilding(self.reader.state)

    def state_at(self, at_ms: int) -> State:
        """The state as of a moment: only ops whose HLC is at or before it.

        A moment at or after now is the current state, even when a writer's
        clock ran ahead (docs/semantics.md, time travel).
        """
        self._adopt()
        return self.reader.at(at_ms)

    def get(self, ref: str) -> Task:
        """One task by full id, unique prefix or native number (deleted tasks included).

        Raises:
            NotFound: when nothing matches.
            Ambiguous: when the prefix matches several tasks.
        """
        return self.state().find(ref)

    def tasks(self, *, include_deleted: bool = False) -> list[Task]:
        """Tasks oldest first; tombstones only when asked."""
        state = self.state()
        if include_deleted:
            return list(state.tasks.values())
        return list(state.live())

    def ready(self) -> list[Task]:
        """Tasks ready to start (``State.is_ready``), oldest first."""
        state = self.state()
        now = self.clock()
        return [state.tasks[row.id] for row in state.live_rows() if state.is_ready(row, now)]

    def materialize(self) -> Outcome:
        """Compare every task file with the state; fix what differs, remove strays."""
        self._adopt()
        self.reader.rebuilding(lambda: self.reader.state(save=False))
        outcome = look(self._construct_view(), self.reader, self.reader.take_changed(), full=True)
        self.reader.save()
        return outcome  # (its errors are the caller's)

    # ---------------------------------------------------------------- writing

    def _commit(self, decide: Decide, session: str | None = None) -> Committed:
        """Append the op ``decide`` makes as this session, then bring its task files in line."""
        self._adopt()
        committed = self._construct_writer(session or self.session).commit(decide)
        if session is None:
            self.last_op = committed.op
        if committed.op is not None:
            show(self._construct_view(), self.reader, committed, self.warnings)
            # (outside Claude Code's locks; a long-lived writer's is throttled: ``Reader.save``)
            self.reader.save()
        return committed

    def _record_native(self, session: str, decide: Decide) -> State:
        """Append an op recording a change Claude Code made (no file is written here)."""
        return self._construct_writer(session).commit(decide).state

    def _task(self, committed: Committed, ref: str) -> Task:
        state = committed.state
        op: Op | None = committed.op
        return state.tasks[op.task] if op is not None else state.find(ref)

    def create(self, edits: Edits) -> Task:
        """Create a pending task.

        Raises:
            InvalidValue, NotFound, Ambiguous, DependencyError: for a bad request.
            StorageError: when the log cannot be written.
        """
        from ._decide import plan_create

        plan_create(self._decided_on(None, edits), "the new task", edits)  # (before any lock)
        committed = self._commit(lambda now, new_id: plan_create(now, new_id, edits))
        assert committed.op is not None
        return committed.state.tasks[committed.op.task]

    def update(
        self, ref: str, edits: Edits, *, based_on: State | None = None, force: bool = False
    ) -> Task:
        """Change the named fields of a task (only those are written).

        Args:
            ref: the task's id, unique prefix or native number.
            edits: the fields to change.
            based_on: the state the caller read and decided on, if older than
                now. Its values are recorded as the ones the write replaces,
                and a new description is merged three ways against it.
            force: change status or owner even though another session holds it.

        Raises:
            InvalidValue, NotFound, Ambiguous, TaskDeleted, DependencyError: for a
                bad request.
            ClaimHeld: for a status or owner change of a task another session
                holds (without ``force``), or when this session's claim lost.
            StorageError: when the log cannot be written.
        """
        from ._decide import plan_update
        from ._model import OpKind

        if edits.is_empty():
            raise InvalidValue("nothing to update: name at least one field to change")
        seen = based_on or self._decided_on(ref, edits)
        task_id = seen.resolve(ref)
        check = self._construct_claims().check(seen, task_id, force)
        committed = self._commit(
            lambda now, _: plan_update(now, task_id, edits, OpKind.UPDATE, seen, check.actor(now))
        )
        task = self._task(committed, task_id)
        check.renew(task, self.clock())
        return task

    def note(self, ref: str, text: str) -> Task:
        """Append a note to a task (the holder's note renews its lease).

        Raises:
            InvalidValue, NotFound, Ambiguous, TaskDeleted: for a bad request.
            ClaimHeld: when this session's claim on the task lost to another.
            StorageError: when the log cannot be written.
        """
        from ._decide import plan_note

        seen = self._decided_on(ref)
        task_id = seen.resolve(ref)
        check = self._construct_claims().check(seen, task_id, False)
        committed = self._commit(lambda now, _: plan_note(now, task_id, text, check.actor(now)))
        task = self._task(committed, task_id)
        check.renew(task, self.clock())
        return task

    def delete(self, ref: str, *, force: bool = False) -> Task:
        """Delete a task (a tombstone: history keeps it).

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            ClaimHeld: for a task another session holds (without ``force``).
            StorageError: when the log cannot be written.
        """
        from ._decide import plan_delete

        seen = self._decided_on(ref)
        task_id = seen.resolve(ref)
        check = self._construct_claims().check(seen, task_id, force)
        committed = self._commit(lambda now, _: plan_delete(now, task_id, seen, check.actor(now)))
        return self._task(committed, task_id)

    def claim(
        self,
        ref: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_S,
        force: bool = False,
        past_blockers: bool = False,
    ) -> Task:
        """Claim a task exclusively: owner := this session, status := in_progress.

        On one file system the claim is linearizable: of any number of
        sessions racing for one task, exactly one wins; the others get
        ``ClaimHeld`` naming the winner at once. Claiming a task this session
        already holds renews its lease.

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            InvalidValue: for a completed task or a lease that is not positive.
            Blocked: for incomplete blockers (without ``force`` or ``past_blockers``).
            ClaimHeld: when another session holds or just won the task.
            StorageError: when the log or the claim files cannot be written.
        """
        from ._claims import lease_ms

        lease = lease_ms(lease_seconds)
        seen = self._decided_on(ref)
        committed = self._construct_claims().claim(
            seen, seen.resolve(ref), lease, force, past_blockers=past_blockers
        )
        return self._task(committed, ref)

    def claim_ready(self, *, lease_seconds: float = DEFAULT_LEASE_S) -> Task:
        """Claim the oldest ready task, moving on when another session wins one.

        Raises:
            NothingReady: when no ready task could be claimed.
            InvalidValue: for a lease that is not positive.
            StorageError: when the log or the claim files cannot be written.
        """
        from ._claims import lease_ms

        committed = self._construct_claims().claim_ready(lease_ms(lease_seconds))
        assert committed.op is not None
        return committed.state.tasks[committed.op.task]

    def release(self, ref: str, *, force: bool = False) -> Task:
        """End this session's claim at once: owner cleared, status pending unless completed.

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            ClaimHeld: when another session holds the task (without ``force``).
            InvalidValue: when this session neither holds nor owns it.
            StorageError: when the log cannot be written.
        """
        committed = self._construct_claims().release(ref, force)
        return self._task(committed, ref)
