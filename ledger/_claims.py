"""Claims: claim generations, the linearization point of ``claim``, and the claim service.

Each task that was ever claimed has a folder ``claims/<task-id>/`` holding
numbered *generations*: ``0000000001.json``, ``0000000002.json``... The
highest generation says who holds the task and until when (or that it was
released). Changing that -- a claim, a renewal, a release -- means publishing
the next generation with ``link(2)``, which fails if the name exists: of any
number of processes racing to publish generation ``n + 1``, exactly one
succeeds, and every other learns at once who did. Nobody waits on anything,
and nothing can go stale: a claimant killed at any instant leaves a
generation whose lease simply runs out.

The ops then record the outcome in the log, so replicas resolve it too (see
docs/claims.md). Generations older than the previous one are removed as new
ones are published (best effort); the highest is never removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import _json
from ._actor import Actor
from ._datatype import datatype
from ._decide import plan_claim, plan_release
from ._errors import Blocked, ClaimHeld, InvalidValue, NothingReady, StorageError, TaskDeleted
from ._fs import Dir
from ._layout import Layout
from ._model import Task
from ._state import State
from ._write import Committed, Decide

CLAIM = "claim"
RELEASE = "release"
LOST = "lost"
_NAME = re.compile(r"(\d{10})\.json")
_READ_ATTEMPTS = 5


@datatype(frozen=True)
class Generation:
    """One published generation of a task's claim.

    Attributes:
        number: the generation number (1, 2, ...).
        kind: ``claim`` (also a renewal), ``release`` or ``lost`` (the holder
            learned that another replica's claim won).
        session: who published it.
        until_ms: for a claim, when its lease ends (epoch ms).
        at_ms: when it was published.
    """

    number: int
    kind: str
    session: str
    until_ms: int
    at_ms: int

    def holder(self, now_ms: int) -> str | None:
        """The session holding the task by this generation at ``now_ms``, if any."""
        if self.kind == CLAIM and self.until_ms > now_ms:
            return self.session
        return None


class Raced(Exception):
    """Another process published the generation first (internal)."""

    def __init__(self, winner: Generation | None) -> None:
        super().__init__("another process published this generation first")
        self.winner = winner


def _parse(number: int, data: bytes) -> Generation | None:
    try:
        raw = _json.loads(data)
        kind, session, until, at = raw["kind"], raw["session"], raw["until"], raw["at"]
    except (ValueError, KeyError, TypeError):
        return None
    if (
        kind not in (CLAIM, RELEASE, LOST)
        or not isinstance(session, str)
        or type(until) is not int
        or type(at) is not int
    ):
        return None
    return Generation(number, kind, session, until, at)


class ClaimFolder:
    """The claim generations of one task.

    Args:
        layout: the list.
        task_id: the task.
    """

    def __init__(self, layout: Layout, task_id: str) -> None:
        self.layout = layout
        self.task_id = task_id
        self.path = layout.root / "claims" / task_id

    def _open(self, create: bool) -> Dir | None:
        return self.layout.open("claims", self.task_id, create=create)

    def _numbers(self, folder: Dir) -> list[int]:
        try:
            names = folder.names()
        except OSError as exc:
            raise StorageError(f"cannot read claims in {self.path}: {exc.strerror}") from exc
        return sorted(int(m.group(1)) for n in names if (m := _NAME.fullmatch(n)))

    def _read(self, folder: Dir, number: int) -> Generation | None:
        try:
            data = folder.read(f"{number:010d}.json", limit=4096)
        except OSError as exc:
            raise StorageError(f"cannot read claims in {self.path}: {exc.strerror}") from exc
        return None if data is None else _parse(number, data)

    def latest(self) -> tuple[int, Generation | None]:
        """The highest generation number and its content (None if unreadable).

        Returns ``(0, None)`` for a task never claimed.
        """
        folder = self._open(create=False)
        if folder is None:
            return 0, None
        with folder:
            top = 0
            for _ in range(_READ_ATTEMPTS):
                numbers = self._numbers(folder)
                if not numbers:
                    return 0, None
                top = numbers[-1]
                found = self._read(folder, top)
                if found is not None or folder.lstat(f"{top:010d}.json") is not None:
                    return top, found
                # removed between listing and reading: a newer one exists; look again
            return top, None

    def publish(self, after: int, kind: str, session: str, until_ms: int, at_ms: int) -> Generation:
        """Publish generation ``after + 1``, or learn who did.

        Raises:
            Raced: when that generation already exists (carries its content).
            StorageError: when the folder cannot be written.
        """
        number = after + 1
        body = _json.dumps_bytes({"kind": kind, "session": session, "until": until_ms, "at": at_ms})
        try:
            folder = self._open(create=True)
            assert folder is not None
            with folder:
                if not folder.publish(f"{number:010d}.json", body):
                    raise Raced(self._read(folder, number))
                for old in self._numbers(folder):
                    if old < number - 1:
                        try:
                            folder.unlink(f"{old:010d}.json")
                        except OSError:
                            pass
        except OSError as exc:
            raise StorageError(f"cannot write claims in {self.path}: {exc.strerror}") from exc
        return Generation(number, kind, session, until_ms, at_ms)


def lease_ms(seconds: float) -> int:
    """A lease length in milliseconds.

    Raises:
        InvalidValue: unless between 0 and ten years.
    """
    if not seconds > 0 or seconds > 10 * 365 * 86400:
        raise InvalidValue(f"lease must be between 0 and ten years of seconds, not {seconds}")
    return max(int(seconds * 1000), 1)


class ClaimCheck:
    """What one command found about a task's claim, and how it updates the files.

    Args:
        claims: the claim service.
        task_id: the task.
        force: whether the command overrides another session's claim.
    """

    def __init__(self, claims: Claims, task_id: str, force: bool) -> None:
        self.session = claims.session
        self.task_id = task_id
        self.force = force
        self.past_blockers = False
        self.now_ms = claims.clock()
        self.folder = ClaimFolder(claims.layout, task_id)
        self.number, self.generation = self.folder.latest()
        self.file_holder = None if self.generation is None else self.generation.holder(self.now_ms)

    def actor(self, state: State, *, log_only: bool = False) -> Actor:
        """The acting session, with the holder as ``state``'s log and (unless
        ``log_only``) the claim files show it."""
        holder = state.rows[self.task_id].holder(self.now_ms)
        if holder is None and not log_only:
            holder = self.file_holder
        return Actor(self.session, self.now_ms, self.force, holder, self.past_blockers)

    def publish(self, kind: str, until_ms: int) -> Generation | None:
        """Publish the next generation; return the winner's if another process got there first."""
        try:
            self.folder.publish(self.number, kind, self.session, until_ms, self.now_ms)
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
            and task.holder(now_ms) == self.session
            and (self.generation is None or self.generation.until_ms != lease.until_ms)
        ):
            self.publish(CLAIM, lease.until_ms)


@datatype(slots=False)
class Claims:
    """Claim, release and ``ready --claim`` for one session.

    Attributes:
        layout: the list.
        session: the acting session.
        clock: epoch-milliseconds wall clock.
        seen: the state a command decides on.
        commit: appends the op a decision makes (``Writer.commit``).
    """

    layout: Layout
    session: str
    clock: Callable[[], int]
    seen: Callable[[], State]
    commit: Callable[[Decide], Committed]

    def check(self, seen: State, task_id: str, force: bool) -> ClaimCheck:
        """Read a task's claim files; tell a session whose claim lost to another replica's (once).

        Raises:
            ClaimHeld: when this session's own claim lost.
        """
        found = ClaimCheck(self, task_id, force)
        other = seen.rows[task_id].holder(found.now_ms)
        if found.file_holder == self.session and other not in (None, self.session):
            found.publish(LOST, 0)
            raise ClaimHeld(
                f"task {seen.short(task_id)} is held by {other}: their claim won over yours "
                "(made on another replica at the same time)"
            )
        return found

    def claim(
        self, seen: State, task_id: str, lease: int, force: bool, *, past_blockers: bool = False
    ) -> Committed:
        """Claim a task: win the next claim generation, then append the claim op.

        Raises:
            ClaimHeld: when another session holds the task or wins it at the same moment.
            Blocked, InvalidValue, TaskDeleted: from planning the claim.
        """
        found = self.check(seen, task_id, force)
        found.past_blockers = past_blockers
        plan_claim(seen, task_id, found.actor(seen), lease)
        won = found.publish(CLAIM, found.now_ms + lease)
        if won is not None and (won.session != self.session or won.kind != CLAIM):
            did = "claimed" if won.kind == CLAIM else "released"
            raise ClaimHeld(
                f"task {seen.short(task_id)} is held by {won.session}: "
                f"{won.session} {did} it at the same moment"
            )
        try:
            return self.commit(
                lambda now, _: plan_claim(
                    now, task_id, found.actor(now, log_only=True), lease, seen
                )
            )
        except BaseException:
            found.publish(RELEASE, 0)  # the claim never reached the log: hand it back
            raise

    def claim_ready(self, lease: int) -> Committed:
        """Claim the oldest ready task, moving on when another session wins one.

        Raises:
            NothingReady: when none could be claimed.
        """
        seen = self.seen()
        now = self.clock()
        for row in [r for r in seen.live_rows() if seen.is_ready(r, now)]:
            try:
                return self.claim(seen, row.id, lease, False)
            except (ClaimHeld, Blocked, TaskDeleted):
                continue
        raise NothingReady("no ready task to claim")

    def release(self, ref: str, force: bool) -> Committed:
        """End a claim: owner cleared, lease ended, status pending unless completed.

        Raises:
            ClaimHeld: when another session holds the task (without ``force``).
            InvalidValue: when the session neither holds nor owns it.
        """
        seen = self.seen()
        task_id = seen.resolve(ref)
        found = self.check(seen, task_id, force)
        plan_release(seen, task_id, found.actor(seen))
        # Give the claim file back first: if the log append then fails, the log
        # still shows the live lease, so nobody can take the task early.
        found.publish(RELEASE, 0)
        return self.commit(lambda now, _: plan_release(now, task_id, found.actor(now), seen))
