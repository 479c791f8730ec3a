"""The claim service: claim, release and ``ready --claim`` for a ``Ledger``.

Claim files (``_claims``) decide races on one file system; the ops append
the outcome to the log, so replicas resolve it too. See docs/claims.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._claims import CLAIM, LOST, RELEASE, ClaimFolder, Generation, Raced
from ._errors import Blocked, ClaimHeld, InvalidValue, NothingReady, TaskDeleted
from ._model import Task
from ._plan import Actor, plan_claim, plan_release
from ._state import State
from ._store import DEFAULT_LEASE_S

if TYPE_CHECKING:
    from ._store import Ledger

__all__ = ["DEFAULT_LEASE_S", "check", "claim", "claim_ready", "lease_ms", "release"]


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
        ledger: the acting ledger.
        task_id: the task.
        force: whether the command overrides another session's claim.
    """

    def __init__(self, ledger: Ledger, task_id: str, force: bool) -> None:
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
        holder = state.rows[self.task_id].holder(self.now_ms)
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


def check(ledger: Ledger, seen: State, task_id: str, force: bool) -> ClaimCheck:
    """Read a task's claim files; tell a session whose claim lost to another replica's (once).

    Raises:
        ClaimHeld: when this session's own claim lost.
    """
    found = ClaimCheck(ledger, task_id, force)
    other = seen.rows[task_id].holder(found.now_ms)
    if found.file_holder == ledger.session and other not in (None, ledger.session):
        found.publish(LOST, 0)
        raise ClaimHeld(
            f"task {seen.short(task_id)} is held by {other}: their claim won over yours "
            "(made on another replica at the same time)"
        )
    return found


def claim(ledger: Ledger, seen: State, task_id: str, lease: int, force: bool) -> Task:
    """Claim a task: win the next claim generation, then append the claim op.

    Raises:
        ClaimHeld: when another session holds the task or wins it at the same moment.
        Blocked, InvalidValue, TaskDeleted: from planning the claim.
    """
    found = check(ledger, seen, task_id, force)
    plan_claim(seen, task_id, found.actor(seen), lease)
    won = found.publish(CLAIM, found.now_ms + lease)
    if won is not None and (won.session != ledger.session or won.kind != CLAIM):
        did = "claimed" if won.kind == CLAIM else "released"
        raise ClaimHeld(
            f"task {seen.short(task_id)} is held by {won.session}: "
            f"{won.session} {did} it at the same moment"
        )
    try:
        return ledger.commit(
            lambda now, seen_now, _: plan_claim(
                now, task_id, found.actor(now, log_only=True), lease, seen_now
            )
        )
    except BaseException:
        found.publish(RELEASE, 0)  # the claim never reached the log: hand it back
        raise


def claim_ready(ledger: Ledger, lease: int) -> Task:
    """Claim the oldest ready task, moving on when another session wins one.

    Raises:
        NothingReady: when none could be claimed.
    """
    seen = ledger.seen()
    now = ledger.clock()
    for row in [r for r in seen.live_rows() if seen.is_ready(r, now)]:
        try:
            return claim(ledger, seen, row.id, lease, False)
        except (ClaimHeld, Blocked, TaskDeleted):
            continue
    raise NothingReady("no ready task to claim")


def release(ledger: Ledger, ref: str, force: bool) -> Task:
    """End a claim: owner cleared, lease ended, status pending unless completed.

    Raises:
        ClaimHeld: when another session holds the task (without ``force``).
        InvalidValue: when the session neither holds nor owns it.
    """
    seen = ledger.seen()
    task_id = seen.resolve(ref)
    found = check(ledger, seen, task_id, force)
    plan_release(seen, task_id, found.actor(seen))
    # Give the claim file back first: if the log append then fails, the log
    # still shows the live lease, so nobody can take the task early.
    found.publish(RELEASE, 0)
    return ledger.commit(
        lambda now, seen_now, _: plan_release(now, task_id, found.actor(now), seen_now)
    )
