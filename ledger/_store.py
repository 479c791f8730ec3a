"""The service: open a list, answer from it, append ops to it.

Reading: when the derived cache covers exactly the logs on disk, a command
answers from it without importing pycrdt; otherwise a replayer starts from
the cache's snapshots, reads only the log tails after it, and the cache and
the stale task files are brought up to date (``_derived``).

Writing: under the ``flock`` of the session's own log only (so the
processes of one session take turns and never reuse a pycrdt clock), catch
up on every log, let a pure planner decide the op, apply it as this writer,
append the record with fsync, then settle the derived files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ._derived import SETTLE_ROUNDS, Derived
from ._errors import CacheBroken, StorageError
from ._paths import (
    Layout,
    check_list_id,
    check_session,
    default_home,
    default_list,
    default_session,
    is_writer_id,
    log_name,
    parse_log_name,
    scan_logs,
)
from ._state import State

# Writing needs pycrdt, the planner and the claim service; a read answered from
# the cache needs none of them, so they are imported where a write begins.
if TYPE_CHECKING:
    from ._audit import Conflict, SessionInfo
    from ._exchange import Received
    from ._log import Appender, Record
    from ._materialize import Outcome
    from ._model import Json, Op, Stamp, Task
    from ._plan import Edits
    from ._replay import Replayer
    from ._verify import Report

DEFAULT_LEASE_S = 30 * 60  # seconds a claim lasts unless renewed
T = TypeVar("T")


def wall_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def task_id_for(writer: str, seq: int) -> str:
    """The id of the task created by a writer's record ``seq``: 64 bits of a hash.

    Distinct (writer, seq) pairs give distinct inputs, and the hash spreads
    ids evenly, so four-character prefixes are usually unique.
    """
    import hashlib

    return hashlib.blake2b(f"{writer}:{seq}".encode(), digest_size=8).hexdigest()


class Ledger:
    """One list, opened by one session.

    Args:
        layout: where the list lives.
        session: the session acting.
        clock: epoch-milliseconds clock (injectable for tests).
    """

    def __init__(self, layout: Layout, session: str, *, clock: Callable[[], int] = wall_ms) -> None:
        self.layout = layout
        self.session = session
        self.clock = clock
        self.warnings: list[str] = []
        self.derived = Derived(layout, self.warnings)
        self._replayer: Replayer | None = None
        self._subscribers: list[Callable[[Record], None]] = []

    @classmethod
    def open(
        cls,
        home: Path | str | None = None,
        list_id: str | None = None,
        session: str | None = None,
        *,
        clock: Callable[[], int] = wall_ms,
    ) -> Ledger:
        """Open a list; missing arguments fall back to the environment (SPEC section 1).

        Raises:
            InvalidValue: for a list id or session name outside the allowed pattern.
        """
        root = Path(home).expanduser() if home else default_home()
        layout = Layout(root, check_list_id(list_id or default_list()))
        return cls(layout, check_session(session or default_session()), clock=clock)

    # ------------------------------------------------------------ the state

    def _rebuilding(self, action: Callable[[], T]) -> T:
        """Run ``action``; if a cache file turns out broken, drop the cache and run it again."""
        try:
            return action()
        except CacheBroken as exc:
            self.warnings.append(f"the derived cache was broken ({exc}): rebuilt from the logs")
            self.derived.forget()
            self._replayer = None
            return action()

    def state(self) -> State:
        """The current state: from the fresh cache, else caught up from the logs."""
        return self._rebuilding(lambda: self._current(repair=True))

    def _current(self, *, repair: bool) -> State:
        stats = scan_logs(self.layout.logs)
        if self.derived.load() and self.derived.fresh(stats):
            if repair and self.derived.repair():
                stats = scan_logs(self.layout.logs)  # a writer may have moved on meanwhile
                if not self.derived.fresh(stats):
                    return self.derived.settle(self._replayer_for(None), stats)
            assert self.derived.state is not None
            return self.derived.state
        return self.derived.settle(self._replayer_for(None), stats)

    def seen(self) -> State:
        """The state a write decides on: the fresh cache, else the replayer caught up.

        Unlike ``state()`` it writes no file: the write settles afterwards.
        """

        def read() -> State:
            stats = scan_logs(self.layout.logs)
            if self._replayer is None and self.derived.load() and self.derived.fresh(stats):
                assert self.derived.state is not None
                return self.derived.state
            replayer = self._replayer_for(None)
            replayer.catch_up(sorted(stats))
            return replayer.state()

        return self._rebuilding(read)

    def refresh(self, *, rounds: int = SETTLE_ROUNDS) -> State:
        """Catch up on every log through this ledger's replayer, then update cache and files.

        Unlike ``state()``, this reads the logs even when the cache is fresh,
        so subscribers receive every record not delivered yet.

        Args:
            rounds: how many times to re-check the logs after writing files.
        """
        return self._rebuilding(
            lambda: self.derived.settle(
                self._replayer_for(None), scan_logs(self.layout.logs), rounds
            )
        )

    def read_new(self) -> State:
        """Read only what was appended since the last read, without touching any file.

        Subscribers receive the new records; the state returned is the
        replayer's, which may be ahead of the cache until ``refresh``.
        """

        def read() -> State:
            replayer = self._replayer_for(None)
            replayer.catch_up(sorted(scan_logs(self.layout.logs)))
            self.warnings.extend(str(w) for w in replayer.warnings)
            replayer.warnings.clear()
            return replayer.state()

        return self._rebuilding(read)

    def _replayer_for(self, client_id: int | None) -> Replayer:
        """This ledger's replayer, kept between calls so each reads only new bytes.

        A new one starts from the derived cache: its offsets, and each shard's
        snapshot when the shard is first needed.

        Args:
            client_id: the writer it must write as; None when any will do.
        """
        from ._log import BadRecord
        from ._replay import Replayer

        current = self._replayer
        if current is None:
            base = self.derived.base(scan_logs(self.layout.logs))
            try:
                current = Replayer(self.layout.logs, client_id, base=base)
            except (ValueError, KeyError, TypeError, BadRecord) as exc:
                raise CacheBroken("the head's progress") from exc
            self._replayer = current
            current.subscribers = self._subscribers
        elif client_id is not None:
            current.replica.client_id = client_id  # shards are adopted as they are written
        return current

    def subscribe(self, callback: Callable[[Record], None]) -> Callable[[], None]:
        """Call ``callback`` with every record this ledger applies from now on.

        Records are delivered as the ledger reads them (any command that
        catches up, ``state()`` included), each writer's in order; a record
        can be delivered again after the ledger had to start over from the
        logs, so callers that care deduplicate by (writer, seq).

        Returns:
            A function that ends the subscription.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def state_at(self, at_ms: int) -> State:
        """The state as of a moment: only ops whose HLC is at or before it.

        Args:
            at_ms: the moment, epoch milliseconds.
        """
        from ._replay import Replayer

        replayer = Replayer(self.layout.logs, until_ms=at_ms)
        replayer.catch_up()
        self.warnings.extend(str(w) for w in replayer.warnings)
        return replayer.state()

    def get(self, ref: str) -> Task:
        """One task by full id or unique prefix (deleted tasks included).

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
        """Rewrite every task file that differs from the logs, and remove strays."""
        return self._rebuilding(
            lambda: (self._current(repair=False), self.derived.force_materialize())[1]
        )

    # ------------------------------------------------------------ the audit

    def _trail(self) -> list[Record]:
        from ._audit import read_all, trail
        from ._log import LogWarning

        problems: list[LogWarning] = []
        records = trail(read_all(self.layout.logs, problems))
        self.warnings.extend(str(p) for p in problems)
        return records

    def history(
        self,
        ref: str | None = None,
        *,
        session: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        ops: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Record]:
        """The audit trail in causal (HLC) order, optionally filtered.

        Args:
            ref: only ops on this task (including edge changes made from the
                other end).
            session: only ops by this session.
            since_ms: only ops at or after this time (epoch ms, by HLC).
            until_ms: only ops at or before this time.
            ops: only these op kinds.
            limit: only the latest this many (still oldest first).

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        task_id = self.state().resolve(ref) if ref is not None else None
        out = []
        for record in self._trail():
            if task_id is not None and record.task != task_id:
                blocks = record.fields.get("blocks")
                if not (isinstance(blocks, dict) and task_id in blocks):
                    continue
            if session is not None and record.session != session:
                continue
            if since_ms is not None and record.hlc.ms < since_ms:
                continue
            if until_ms is not None and record.hlc.ms > until_ms:
                continue
            if ops and record.kind not in ops:
                continue
            out.append(record)
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def conflicts(self, ref: str | None = None) -> list[Conflict]:
        """Same-field writes whose value lost to a write that had not seen them.

        Args:
            ref: only conflicts on this task.

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        from ._audit import conflicts

        task_id = self.state().resolve(ref) if ref is not None else None
        found = conflicts(self._trail())
        return [c for c in found if task_id is None or c.task == task_id]

    def blame(self, ref: str) -> list[tuple[str, Json, Stamp]]:
        """For each current field of a task: its value and the write that set it.

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        from ._audit import blame

        state = self.state()
        task_id = state.resolve(ref)
        return blame(state, task_id, self.history(task_id))

    def sessions(self) -> list[SessionInfo]:
        """Every session seen in the logs or running now: activity, holdings, liveness."""
        from ._audit import sessions
        from ._presence import read_presence

        records = self._trail()
        presence = read_presence(self.layout.presence)
        return sessions(records, self.state(), presence, self.clock())

    def verify(self) -> Report:
        """Check every log for damage and tampering (see ``_verify``)."""
        from ._verify import verify

        return verify(self.layout.logs, self.derived.cache.read_head())

    # ------------------------------------------------------------ writing

    def create(self, edits: Edits) -> Task:
        """Create a pending task.

        Raises:
            InvalidValue, NotFound, Ambiguous, DependencyError: for a bad request.
            StorageError: when the log cannot be written.
        """
        from ._plan import plan_create

        return self.commit(lambda now, seen, new_id: plan_create(now, new_id, edits))

    def update(
        self,
        ref: str,
        edits: Edits,
        *,
        based_on: State | None = None,
        force: bool = False,
    ) -> Task:
        """Change the named fields of a task (only those are written).

        Args:
            ref: the task's id or unique prefix.
            edits: the fields to change.
            based_on: the state the caller read and decided on, if older than
                now. Its values are recorded as the ones the write replaces,
                and a new description is merged three ways against it, so
                edits that landed since (to other lines) survive.
            force: change status or owner even though another session holds
                the task under a live lease.

        Raises:
            InvalidValue, NotFound, Ambiguous, TaskDeleted, DependencyError: for a
                bad request.
            ClaimHeld: for a status or owner change of a task another session
                holds (without ``force``), or when this session's claim lost.
            StorageError: when the log cannot be written.
        """
        from . import _claiming
        from ._model import OpKind
        from ._plan import plan_update

        seen = based_on or self.seen()
        task_id = seen.resolve(ref)
        claim = _claiming.check(self, seen, task_id, force)
        task = self.commit(
            lambda now, seen_now, _: plan_update(
                now, task_id, edits, OpKind.UPDATE, based_on or seen_now, claim.actor(now)
            )
        )
        claim.renew(task, self.clock())
        return task

    def note(self, ref: str, text: str) -> Task:
        """Append a note to a task (the holder's note renews its lease).

        Raises:
            InvalidValue, NotFound, Ambiguous, TaskDeleted: for a bad request.
            ClaimHeld: when this session's claim on the task lost to another.
            StorageError: when the log cannot be written.
        """
        from . import _claiming
        from ._plan import plan_note

        seen = self.seen()
        task_id = seen.resolve(ref)
        claim = _claiming.check(self, seen, task_id, False)
        task = self.commit(lambda now, _s, _: plan_note(now, task_id, text, claim.actor(now)))
        claim.renew(task, self.clock())
        return task

    def delete(self, ref: str, *, force: bool = False) -> Task:
        """Delete a task (a tombstone: history keeps it).

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            ClaimHeld: for a task another session holds (without ``force``).
            StorageError: when the log cannot be written.
        """
        from . import _claiming
        from ._plan import plan_delete

        seen = self.seen()
        task_id = seen.resolve(ref)
        claim = _claiming.check(self, seen, task_id, force)
        return self.commit(
            lambda now, seen_now, _: plan_delete(now, task_id, seen_now, claim.actor(now))
        )

    def claim(
        self, ref: str, *, lease_seconds: float = DEFAULT_LEASE_S, force: bool = False
    ) -> Task:
        """Claim a task exclusively: owner := this session, status := in_progress.

        On one file system the claim is linearizable: of any number of
        sessions racing for one task, exactly one wins; the others get
        ``ClaimHeld`` naming the winner at once. Claiming a task this session
        already holds renews its lease.

        Args:
            ref: the task's id or unique prefix.
            lease_seconds: how long the claim lasts unless renewed.
            force: take the task even though another session holds it, or
                its blockers are not completed.

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            InvalidValue: for a completed task or a lease that is not positive.
            Blocked: for incomplete blockers (without ``force``).
            ClaimHeld: when another session holds or just won the task.
            StorageError: when the log or the claim files cannot be written.
        """
        from . import _claiming

        lease = _claiming.lease_ms(lease_seconds)
        seen = self.seen()
        return _claiming.claim(self, seen, seen.resolve(ref), lease, force)

    def claim_ready(self, *, lease_seconds: float = DEFAULT_LEASE_S) -> Task:
        """Claim the oldest ready task, moving on to the next when another session wins one.

        Raises:
            NothingReady: when no ready task could be claimed.
            InvalidValue: for a lease that is not positive.
            StorageError: when the log or the claim files cannot be written.
        """
        from . import _claiming

        return _claiming.claim_ready(self, _claiming.lease_ms(lease_seconds))

    def release(self, ref: str, *, force: bool = False) -> Task:
        """End this session's claim at once: owner cleared, status pending unless completed.

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            ClaimHeld: when another session holds the task (without ``force``).
            InvalidValue: when this session neither holds nor owns it.
            StorageError: when the log cannot be written.
        """
        from . import _claiming

        return _claiming.release(self, ref, force)

    # ---------------------------------------------------- replica exchange

    def receive(self, lines: Iterable[bytes]) -> Received:
        """File record lines from another replica into this one (any subset, any order).

        Raises:
            StorageError: when the logs cannot be written.
        """
        from ._exchange import receive

        marker = self.layout.writers / self.session
        try:
            own = marker.read_text().strip()
        except (OSError, ValueError):
            own = None
        return receive(self.layout, lines, own_writer=own)

    def outgoing(self) -> list[bytes]:
        """Every record line this replica holds (what it can send to another)."""
        from ._exchange import outgoing

        return list(outgoing(self.layout))

    # ------------------------------------------------------------ appending

    def writer_id(self) -> str:
        """This session's writer on this replica, created on first use.

        Two processes racing to create it agree: the marker file is published
        with ``link``, which fails if it already exists.

        Raises:
            StorageError: when the ledger folder cannot be written.
        """
        marker = self.layout.writers / self.session
        try:
            existing = marker.read_text().strip()
        except FileNotFoundError:
            existing = None
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read this session's writer from {marker}") from exc
        if existing is not None:
            if is_writer_id(existing):
                return existing
            raise StorageError(
                f"{marker} does not hold a writer id; remove it to start a new writer"
            )
        return self._new_writer(replace=False)

    def _new_writer(self, *, replace: bool) -> str:
        """Create a writer id and record it as this session's.

        Args:
            replace: take over the marker (retiring a damaged writer) rather
                than publish it only if none exists.

        Raises:
            StorageError: when the ledger folder cannot be written.
        """
        from ._log import make_dirs

        marker = self.layout.writers / self.session
        taken = set()
        for name in scan_logs(self.layout.logs):
            parsed = parse_log_name(name)
            if parsed is not None:
                taken.add(parsed[1])
        while True:
            writer = f"{int.from_bytes(os.urandom(7)) >> 4:013x}"
            if int(writer, 16) and writer not in taken:
                break
        tmp = marker.with_name(f".{self.session}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            make_dirs(self.layout.writers)
            tmp.write_text(writer + "\n")
            try:
                if replace:
                    tmp.replace(marker)
                else:
                    os.link(tmp, marker)
            except FileExistsError:
                writer = marker.read_text().strip()
            finally:
                tmp.unlink(missing_ok=True)
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot record this session's writer in {marker}") from exc
        return writer

    def commit(self, plan: Callable[[State, State, str], Op]) -> Task:
        """Append the op that ``plan(now, seen, new_id)`` decides; return its task.

        ``seen`` is the state when the command started (usually the fresh
        cache); ``now`` is every log caught up under the writer's lock. A
        writer whose own log is damaged is retired for a new one first.
        """
        # Refuse a bad request before creating anything: the (usually fresh)
        # cache finds unknown ids, cycles and bad values. The plan is made
        # again under the lock, against every log.
        seen = self.seen()
        plan(seen, seen, "0" * 16)
        try:
            op = self._append_op(plan, seen)
        except CacheBroken:  # raised before anything was appended
            self.warnings.append("the derived cache was broken: rebuilt from the logs")
            self.derived.forget()
            self._replayer = None
            op = self._append_op(plan, self.seen())
        state = self._rebuilding(
            lambda: self.derived.settle(self._replayer_for(None), scan_logs(self.layout.logs))
        )
        return state.tasks[op.task]

    def _append_op(self, plan: Callable[[State, State, str], Op], seen: State) -> Op:
        """Take the writer's lock, catch up, decide, apply and append; return the op."""
        from ._log import Appender

        writer = self.writer_id()
        retired = False
        while True:
            own = log_name(self.session, writer)
            replayer = self._replayer_for(int(writer, 16))
            try:
                with Appender(self.layout.logs / own) as appender:
                    replayer.catch_up(sorted(scan_logs(self.layout.logs)))
                    damage = replayer.writer_damaged(writer)
                    if damage is not None and not retired:
                        old, writer, retired = writer, self._new_writer(replace=True), True
                        self.warnings.append(
                            f"writer {old} of session {self.session} cannot append safely: "
                            f"{damage}; this session continues with new writer {writer}"
                        )
                        continue
                    if damage is not None:
                        raise StorageError(f"writer {writer} cannot append safely: {damage}")
                    op = self._append(appender, replayer, own, writer, plan, seen)
            except BaseException:
                # The replica may hold an op that never reached the log; writing on
                # top of it would reuse its clocks. Start over from the logs.
                self._replayer = None
                raise
            return op

    def _append(
        self,
        appender: Appender,
        replayer: Replayer,
        own: str,
        writer: str,
        plan: Callable[[State, State, str], Op],
        seen: State,
    ) -> Op:
        """Decide the op against every log, apply it as this writer, append it durably."""
        import base64

        from ._log import Record, encode_record
        from ._model import Stamp
        from ._replay import LogHead
        from ._timeparse import iso_ms

        state = replayer.state()
        head = replayer.heads.get(own) or LogHead()
        seq = head.seq + 1
        op = plan(state, seen, task_id_for(writer, seq))
        now = self.clock()
        hlc = replayer.max_hlc.tick(now)
        stamp = Stamp(hlc, self.session, writer, seq, now)
        updates, clocks = replayer.replica.write(op, stamp)
        record = Record(
            session=self.session,
            writer=writer,
            seq=seq,
            hlc=hlc,
            at=iso_ms(now),
            kind=op.kind.value,
            task=op.task,
            fields=op.to_readable(),
            updates={s: base64.b64encode(u).decode() for s, u in updates.items()},
            clocks=clocks,
            prev=head.digest,
        )
        appender.append(encode_record(record))
        return op
