"""The service: open a list, answer from it, append ops to it.

Reading: when the derived view covers exactly the logs on disk, it answers
without touching pycrdt; otherwise every log is replayed, the view is saved
and stale task files are rewritten.

Writing: under the ``flock`` of the session's own log only (so the processes
of one session take turns and never reuse a pycrdt clock), catch up on every
log, let a pure planner decide the op, apply it as this writer, append the
record with fsync, then refresh the view and the task files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._claims import CLAIM, LOST, RELEASE, ClaimFolder, Generation, Raced
from ._errors import Blocked, ClaimHeld, InvalidValue, NothingReady, StorageError, TaskDeleted
from ._log import Appender, LogWarning, Record, encode_record, make_dirs, scan_logs
from ._materialize import Outcome, materialize
from ._model import Json, Op, OpKind, Stamp, Task, iso_ms
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
)
from ._plan import (
    Actor,
    Edits,
    plan_claim,
    plan_create,
    plan_delete,
    plan_note,
    plan_release,
    plan_update,
)
from ._presence import Presence, read_presence
from ._schema import shard_of
from ._state import State
from ._view import View, load_view, save_view

if TYPE_CHECKING:
    from ._audit import Conflict
    from ._exchange import Received
    from ._replay import Replayer
    from ._verify import Report

DEFAULT_LEASE_S = 30 * 60

# How often to re-check the logs after materializing, so a slower process
# never leaves an older file behind a newer one (SPEC: files never go backwards).
# (Each round catches up and writes again; rounds only repeat while other
# processes keep appending, and each of those settles its own appends.)
_SETTLE_ROUNDS = 32


def wall_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def task_id_for(writer: str, seq: int) -> str:
    """The id of the task created by a writer's record ``seq``: 64 bits of a hash.

    Distinct (writer, seq) pairs give distinct inputs, and the hash spreads
    ids evenly, so four-character prefixes are usually unique.
    """
    return hashlib.blake2b(f"{writer}:{seq}".encode(), digest_size=8).hexdigest()


def _stats(logs_dir: Path) -> dict[str, os.stat_result]:
    return scan_logs(logs_dir)


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
        self._view: View | None = None
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

    # ---------------------------------------------------------------- reading

    def state(self) -> State:
        """The current state: from the fresh view, else from a replay of every log."""
        return self._current(repair=True).state

    def _current(self, *, repair: bool) -> View:
        stats = _stats(self.layout.logs)
        view = self._view or load_view(self.layout.cache)
        if view is not None and view.fresh(stats):
            self._view = view
            if repair:
                self._repair_files(view)
            return view
        self._settle(self._replayer_for(None), stats, view)
        assert self._view is not None
        return self._view

    def _seen(self) -> State:
        """The state a write decides on: the fresh view, else the replayer caught up.

        Unlike ``state()`` it writes no file: the write settles afterwards.
        """
        stats = _stats(self.layout.logs)
        view = self._view or load_view(self.layout.cache)
        if view is not None and view.fresh(stats):
            self._view = view
            return view.state
        if self._view is None:
            self._view = view
        replayer = self._replayer_for(None)
        replayer.catch_up(sorted(stats))
        return replayer.state()

    def refresh(self, *, rounds: int = _SETTLE_ROUNDS) -> State:
        """Catch up on every log through this ledger's replayer, then update view and files.

        Unlike ``state()``, this reads the logs even when the saved view is
        fresh, so subscribers receive every record not delivered yet.

        Args:
            rounds: how many times to re-check the logs after writing files.
        """
        stats = _stats(self.layout.logs)
        previous = self._view or load_view(self.layout.cache)
        self._settle(self._replayer_for(None), stats, previous, rounds)
        assert self._view is not None
        return self._view.state

    def read_new(self) -> State:
        """Read only what was appended since the last read, without touching any file.

        Subscribers receive the new records; the state returned is the
        replayer's, which may be ahead of the saved view until ``refresh``.
        """
        replayer = self._replayer_for(None)
        replayer.catch_up(sorted(_stats(self.layout.logs)))
        self.warnings.extend(str(w) for w in replayer.warnings)
        replayer.warnings.clear()
        return replayer.state()

    def _replayer_for(self, client_id: int | None) -> Replayer:
        """This ledger's replayer, kept between calls so each reads only new bytes.

        Args:
            client_id: the writer it must write as; None when any will do.
        """
        from ._replay import Replayer

        current = self._replayer
        if current is None:
            current = self._replayer = Replayer(self.layout.logs, client_id)
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
        """Tasks that are pending, unowned and have every blocker completed."""
        state = self.state()
        now = self.clock()
        return [t for t in state.live() if state.is_ready(t, now)]

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
        task_id = self.state().find(ref).id if ref is not None else None
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

    def _trail(self) -> list[Record]:
        from ._audit import read_all, trail

        problems: list[LogWarning] = []
        records = trail(read_all(self.layout.logs, problems))
        self.warnings.extend(str(p) for p in problems)
        return records

    def conflicts(self, ref: str | None = None) -> list[Conflict]:
        """Same-field writes whose value lost to a write that had not seen them.

        Args:
            ref: only conflicts on this task.

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        from ._audit import conflicts

        task_id = self.state().find(ref).id if ref is not None else None
        found = conflicts(self._trail())
        return [c for c in found if task_id is None or c.task == task_id]

    def blame(self, ref: str) -> list[tuple[str, Json, Stamp]]:
        """For each current field of a task: its value and the write that set it.

        Fields are the task's scalar fields, metadata keys and blockers (from
        the winning writes), the description (its latest edit) and each note.

        Raises:
            NotFound, Ambiguous: for a bad task reference.
        """
        state = self.state()
        task = state.find(ref)
        values: dict[str, Json] = {
            "subject": task.subject,
            "activeForm": task.active_form,
            "status": task.status.value,
            "owner": task.owner,
            "deleted": task.deleted,
            "lease": task.lease.until if task.lease else None,
        }
        meta = task.meta()
        out: list[tuple[str, Json, Stamp]] = []
        for name, stamp in task.provenance:
            if name in values:
                out.append((name, values[name], stamp))
            elif name.startswith("metadata.") and name[9:] in meta:
                out.append((name, meta[name[9:]], stamp))
            elif name.startswith("blockedBy.") and name[10:] in task.blocked_by:
                out.append((name, True, stamp))
        edits = [r for r in self.history(task.id) if "description" in r.fields]
        if edits and task.description:
            last = edits[-1]
            stamp = Stamp(last.hlc, last.session, last.writer, last.seq, last.hlc.ms)
            out.append(("description", task.description, stamp))
        out += [(f"note {n}", note.text, note.stamp) for n, note in enumerate(task.notes, 1)]
        return out

    def verify(self) -> Report:
        """Check every log for damage and tampering (see ``_verify``)."""
        from ._verify import verify

        return verify(self.layout.logs)

    def materialize(self) -> Outcome:
        """Rewrite every task file that differs from the logs, and remove strays."""
        view = self._current(repair=False)
        outcome = materialize(
            self.layout.root,
            view.state.tasks,
            changed=(),
            known=view.files,
            check_disk=True,
            force=True,
        )
        self._record_files(view, outcome)
        return outcome

    # ---------------------------------------------------------------- writing

    def create(self, edits: Edits) -> Task:
        """Create a pending task.

        Raises:
            InvalidValue, NotFound, Ambiguous, DependencyError: for a bad request.
            StorageError: when the log cannot be written.
        """
        return self._commit(lambda now, seen, new_id: plan_create(now, new_id, edits))

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
        seen = based_on or self._seen()
        task_id = seen.find(ref).id
        claim = self._claim_check(seen, task_id, force)
        task = self._commit(
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
        seen = self._seen()
        task_id = seen.find(ref).id
        claim = self._claim_check(seen, task_id, False)
        task = self._commit(lambda now, _s, _: plan_note(now, task_id, text, claim.actor(now)))
        claim.renew(task, self.clock())
        return task

    def delete(self, ref: str, *, force: bool = False) -> Task:
        """Delete a task (a tombstone: history keeps it).

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            ClaimHeld: for a task another session holds (without ``force``).
            StorageError: when the log cannot be written.
        """
        seen = self._seen()
        task_id = seen.find(ref).id
        claim = self._claim_check(seen, task_id, force)
        return self._commit(
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
        seen = self._seen()
        return self._claim(seen, seen.find(ref).id, _lease_ms(lease_seconds), force)

    def claim_ready(self, *, lease_seconds: float = DEFAULT_LEASE_S) -> Task:
        """Claim the oldest ready task, moving on to the next when another session wins one.

        Raises:
            NothingReady: when no ready task could be claimed.
            InvalidValue: for a lease that is not positive.
            StorageError: when the log or the claim files cannot be written.
        """
        lease_ms = _lease_ms(lease_seconds)
        seen = self._seen()
        now = self.clock()
        for task in [t for t in seen.live() if seen.is_ready(t, now)]:
            try:
                return self._claim(seen, task.id, lease_ms, False)
            except (ClaimHeld, Blocked, TaskDeleted):
                continue
        raise NothingReady("no ready task to claim")

    def release(self, ref: str, *, force: bool = False) -> Task:
        """End this session's claim at once: owner cleared, status pending unless completed.

        Raises:
            NotFound, Ambiguous, TaskDeleted: for a bad id.
            ClaimHeld: when another session holds the task (without ``force``).
            InvalidValue: when this session neither holds nor owns it.
            StorageError: when the log cannot be written.
        """
        seen = self._seen()
        task_id = seen.find(ref).id
        claim = self._claim_check(seen, task_id, force)
        plan_release(seen, task_id, claim.actor(seen))
        # Give the claim file back first: if the log append then fails, the
        # log still shows the live lease, so nobody can take the task early.
        claim.publish(RELEASE, 0)
        return self._commit(
            lambda now, seen_now, _: plan_release(now, task_id, claim.actor(now), seen_now)
        )

    def _claim(self, seen: State, task_id: str, lease_ms: int, force: bool) -> Task:
        claim = self._claim_check(seen, task_id, force)
        plan_claim(seen, task_id, claim.actor(seen), lease_ms)
        won = claim.publish(CLAIM, claim.now_ms + lease_ms)
        if won is not None and (won.session != self.session or won.kind != CLAIM):
            did = "claimed" if won.kind == CLAIM else "released"
            raise ClaimHeld(
                f"task {seen.short(task_id)} is held by {won.session}: "
                f"{won.session} {did} it at the same moment"
            )
        try:
            return self._commit(
                lambda now, seen_now, _: plan_claim(
                    now, task_id, claim.actor(now, log_only=True), lease_ms, seen_now
                )
            )
        except BaseException:
            # The claim never reached the log: hand the generation back.
            claim.publish(RELEASE, 0)
            raise

    def _claim_check(self, seen: State, task_id: str, force: bool) -> _ClaimCheck:
        """Read the task's claim files; tell a session whose claim lost (once)."""
        check = _ClaimCheck(self, seen, task_id, force)
        mine = check.file_holder == self.session
        other = seen.tasks[task_id].holder(check.now_ms)
        if mine and other not in (None, self.session):
            check.publish(LOST, 0)
            raise ClaimHeld(
                f"task {seen.short(task_id)} is held by {other}: their claim won over yours "
                "(made on another replica at the same time)"
            )
        return check

    def sessions(self) -> list[SessionInfo]:
        """Every session seen in the logs: its activity and what it holds now."""
        from ._audit import read_all, trail

        problems: list[LogWarning] = []
        records = trail(read_all(self.layout.logs, problems))
        self.warnings.extend(str(p) for p in problems)
        state = self.state()
        now = self.clock()
        last: dict[str, Record] = {}
        count: dict[str, int] = {}
        for record in records:
            last[record.session] = record
            count[record.session] = count.get(record.session, 0) + 1
        holds: dict[str, list[Task]] = {}
        for task in state.live():
            holder = task.holder(now)
            if holder is not None:
                holds.setdefault(holder, []).append(task)
        running: dict[str, list[Presence]] = {}
        for found in read_presence(self.layout.presence):
            if found.live(now):
                running.setdefault(found.session, []).append(found)
        return [
            SessionInfo(
                name,
                count.get(name, 0),
                last.get(name),
                tuple(holds.get(name, ())),
                tuple(sorted(running.get(name, ()), key=lambda p: p.started_ms)),
            )
            for name in sorted(set(last) | set(holds) | set(running))
        ]

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
        marker = self.layout.writers / self.session
        taken = set()
        for name in _stats(self.layout.logs):
            parsed = parse_log_name(name)
            if parsed is not None:
                taken.add(parsed[1])
        while True:
            writer = f"{secrets.randbits(52):013x}"
            if int(writer, 16) and writer not in taken:
                break
        tmp = marker.with_name(f".{self.session}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
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

    def _commit(self, plan: Callable[[State, State, str], Op]) -> Task:
        """Append the op that ``plan(now, seen, new_id)`` decides.

        ``seen`` is the state when the command started (usually the fresh
        view); ``now`` is every log caught up under the writer's lock. A
        writer whose own log is damaged is retired for a new one first.
        """
        # Refuse a bad request before creating anything: the (usually fresh)
        # view finds unknown ids, cycles and bad values. The plan is made
        # again under the lock, against every log.
        seen = self._seen()
        plan(seen, seen, "0" * 16)
        writer = self.writer_id()
        retired = False
        while True:
            own = log_name(self.session, writer)
            replayer = self._replayer_for(int(writer, 16))
            try:
                with Appender(self.layout.logs / own) as appender:
                    stats = _stats(self.layout.logs)
                    replayer.catch_up(sorted(stats))
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
            break
        self._settle(replayer, _stats(self.layout.logs), self._view)
        assert self._view is not None
        return self._view.state.tasks[op.task]

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
        from ._replay import Head

        state = replayer.state()
        head = replayer.heads.get(own) or Head()
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

    # ------------------------------------------------------ derived files

    def _settle(
        self,
        replayer: Replayer,
        stats: Mapping[str, os.stat_result],
        previous: View | None,
        rounds: int = _SETTLE_ROUNDS,
    ) -> None:
        """Save the view of what the replayer has read and bring task files up to it.

        Re-checks the logs afterwards: if another process appended meanwhile,
        it catches up and writes again, so the last process to finish always
        leaves the newest files. (A follower settles one round at a time: the
        next append wakes it up anyway.) The view is saved once, at the end.
        """
        view = None
        for _ in range(rounds):
            replayer.catch_up(sorted(stats))
            self.warnings.extend(str(w) for w in replayer.warnings)
            replayer.warnings.clear()
            state = replayer.state()
            changed = _changed(
                previous.state if previous else None, state, replayer.take_extracted()
            )
            covered = {}
            for name, cursor in replayer.cursors.items():
                st = stats.get(name)
                if st is not None and cursor.offset + cursor.tail == st.st_size:
                    covered[name] = [st.st_ino, st.st_size, st.st_mtime_ns]
                else:
                    covered[name] = [-1, cursor.offset + cursor.tail, -1]
            view = View(logs=covered, max_hlc=replayer.max_hlc, state=state)
            known = previous.files if previous else {}
            outcome = materialize(
                self.layout.root,
                state.tasks,
                changed=changed,
                known=known,
                check_disk=previous is None or _folder_moved(self.layout.root, previous),
            )
            self._record_files(view, outcome, save=False)
            previous = view
            stats = _stats(self.layout.logs)
            if view.fresh(stats):
                break
        if view is not None and self.layout.root.is_dir():
            save_view(self.layout.cache, view)

    def _repair_files(self, view: View) -> None:
        """Rewrite task files that someone removed or replaced since the view."""
        if not _folder_moved(self.layout.root, view):
            return
        outcome = materialize(
            self.layout.root, view.state.tasks, changed=(), known=view.files, check_disk=True
        )
        self._record_files(view, outcome)
        # A writer may have appended and written newer files while we repaired
        # from the view: if so, catch up and write again, like any settle.
        stats = _stats(self.layout.logs)
        if not view.fresh(stats):
            self._settle(self._replayer_for(None), stats, view)

    def _record_files(self, view: View, outcome: Outcome, *, save: bool = True) -> None:
        view.files = outcome.files
        # After a refused write, make the next command look at the folder again.
        view.folder_mtime = -1 if outcome.errors else outcome.folder_mtime
        self.warnings.extend(f"task files not updated: {e}" for e in outcome.errors)
        self._view = view
        if save and self.layout.root.is_dir():
            save_view(self.layout.cache, view)


def _lease_ms(seconds: float) -> int:
    if not seconds > 0 or seconds > 10 * 365 * 86400:
        raise InvalidValue(f"lease must be between 0 and ten years of seconds, not {seconds}")
    return max(int(seconds * 1000), 1)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as the logs and leases show it.

    Attributes:
        session: its name.
        ops: how many ops it appended.
        last: its latest op (by HLC), if any.
        holds: live tasks it holds under a live lease now.
        running: its processes that announce themselves and beat now (a
            ``watch``, an MCP server); the session is *live* if there is one.
    """

    session: str
    ops: int
    last: Record | None
    holds: tuple[Task, ...]
    running: tuple[Presence, ...] = ()

    @property
    def live(self) -> bool:
        """True while one of the session's processes is running (by its heartbeat)."""
        return bool(self.running)


class _ClaimCheck:
    """What one command found about a task's claim, and how it updates the files."""

    def __init__(self, ledger: Ledger, seen: State, task_id: str, force: bool) -> None:
        self.ledger = ledger
        self.task_id = task_id
        self.force = force
        self.now_ms = ledger.clock()
        self.folder = ClaimFolder(ledger.layout.claims, task_id)
        self.number, self.generation = self.folder.latest()
        self.file_holder = None if self.generation is None else self.generation.holder(self.now_ms)

    def actor(self, state: State, *, log_only: bool = False) -> Actor:
        """The acting session, with the holder as ``state``'s log and (unless
        ``log_only``) the claim files show it."""
        holder = state.tasks[self.task_id].holder(self.now_ms)
        if holder is None and not log_only:
            holder = self.file_holder
        return Actor(self.ledger.session, self.now_ms, self.force, holder)

    def publish(self, kind: str, until_ms: int) -> Generation | None:
        """Publish the next generation; return the winner's if another process got there first."""
        try:
            self.folder.publish(self.number, kind, self.ledger.session, until_ms, self.now_ms)
        except Raced as raced:
            if raced.winner is None:
                return Generation(self.number + 1, CLAIM, "another session", 0, 0)
            return raced.winner
        self.number += 1
        return None

    def renew(self, task: Task, now_ms: int) -> None:
        """After the holder's op renewed the lease in the log, renew the claim file too."""
        lease = task.lease
        if (
            lease is not None
            and task.holder(now_ms) == self.ledger.session
            and (self.generation is None or self.generation.until_ms != lease.until_ms)
        ):
            self.publish(CLAIM, lease.until_ms)


def _folder_moved(root: Path, view: View) -> bool:
    try:
        return root.stat().st_mtime_ns != view.folder_mtime
    except OSError:
        return False


def _changed(before: State | None, after: State, shards: Iterable[str]) -> Iterable[str] | None:
    """Ids whose task may differ between two states (None: all of them).

    ``before`` must be the state the replayer last produced: then only tasks
    in the re-extracted ``shards`` can have changed their own fields, while
    any task can have changed its derived edges.
    """
    if before is None:
        return None
    old = before.tasks
    fresh = set(shards)
    out = []
    for ident, task in after.tasks.items():
        was = old.get(ident)
        if was is None:
            out.append(ident)
        elif shard_of(ident) in fresh:
            if was != task:
                out.append(ident)
        elif was.blocks != task.blocks or was.blocked_by != task.blocked_by:
            out.append(ident)
    return out
