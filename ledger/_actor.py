"""Who acts on a task, and what the claim on it lets them change."""

from __future__ import annotations

from ._datatype import datatype
from ._errors import ClaimHeld
from ._model import Change, Task
from ._state import State


@datatype(frozen=True)
class Actor:
    """Who acts on a task, when, and what they found about its claim.

    Attributes:
        session: the acting session.
        now_ms: the wall clock, epoch ms (leases are wall-clock times).
        force: override another session's live claim.
        holder: the session holding the task under a live lease, as the
            service found it in the logs and in the claim files, if any.
        past_blockers: claim a task whose blockers are not all completed (but
            never one another session holds, unless ``force``).
    """

    session: str
    now_ms: int
    force: bool = False
    holder: str | None = None
    past_blockers: bool = False

    def check_may_change_claim(self, state: State, task: Task, what: str) -> None:
        """Refuse a change of status, owner or existence while another session holds the task.

        Raises:
            ClaimHeld: naming the holder, unless ``force``.
        """
        if self.force or self.holder is None or self.holder == self.session:
            return
        raise ClaimHeld(
            f"task {state.short(task.id)} is held by {self.holder}{until_text(task, self.holder)}; "
            f"{what} needs --force"
        )

    def renewal(self, task: Task) -> tuple[str, Change] | None:
        """The lease change that renews the actor's own live claim, if it holds one."""
        lease = task.lease
        if (
            lease is None
            or self.holder != self.session
            or lease.holder != self.session
            or not lease.live(self.now_ms)
        ):
            return None
        length = max(lease.until_ms - lease.stamp.wall_ms, 1000)
        return "lease", Change(lease.until_ms, self.now_ms + length, lease.stamp.ref)


def until_text(task: Task, holder: str) -> str:
    """`` until <time>`` when the holder's lease is on the task, else nothing."""
    if task.lease is not None and task.lease.holder == holder:
        return f" until {task.lease.until}"
    return ""
