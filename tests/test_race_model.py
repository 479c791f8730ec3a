"""Racing sessions, each with its own replica, as a hypothesis state machine.

Three sessions work on their own replica folders: they create tasks, change
any field, add notes, claim and release, delete, and edit dependencies.
``sync(i, j)`` hands an arbitrary subset of replica i's records to replica j,
reordered and duplicated; ``crash(i)`` leaves half a record at the end of
i's own log, as a writer killed mid-append would. After every step no
replica may crash or disagree with itself; after a full sync:

* all replicas are identical;
* every committed write is current, was overwritten by a write that saw it,
  or is listed by ``conflicts`` -- nothing vanishes;
* every task has at most one holder, the same on every replica;
* ``verify`` finds nothing but the torn tails the crashes left.

``HYPOTHESIS_PROFILE=long`` runs it for thousands of examples.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from ledger import Edits, Ledger, LedgerError, Replayer, Status
from ledger._audit import conflicts, trail, writes
from tests.conftest import data_dir

SESSIONS = 3
TEXTS = ["alpha", "beta", "gamma"]
DESCRIPTIONS = ["one\ntwo\nthree\n", "ONE\ntwo\nthree\n", "one\ntwo\nTHREE\n", ""]


@dataclass
class Clock:
    """A wall clock that moves only when told (shared by every replica)."""

    now: int = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


class Races(RuleBasedStateMachine):
    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="races-"))
        self.clock = Clock()
        self.ledgers = [
            Ledger.open(self.root / f"r{i}", "main", f"s{i}", clock=self.clock)
            for i in range(SESSIONS)
        ]
        self.crashed = [False] * SESSIONS

    def teardown(self) -> None:
        try:
            self.full_sync()  # every run ends converged and checked
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def knowing(self, data: st.DataObject, task: str) -> int:
        """A replica that knows the task, when one does (others would just refuse)."""
        known = [i for i, ledger in enumerate(self.ledgers) if task in ledger.state().tasks]
        return data.draw(st.sampled_from(known or list(range(SESSIONS))), label="replica")

    def act(self, i: int, action: str, *args: object, **kwargs: object) -> object:
        """Run one library call on replica i; a refusal (LedgerError) commits nothing."""
        self.clock.now += 1
        try:
            result = getattr(self.ledgers[i], action)(*args, **kwargs)
        except LedgerError as exc:
            event(f"{action}: refused ({type(exc).__name__})")
            return None
        event(f"{action}: done")
        return result

    # ------------------------------------------------------------------ rules

    @rule(target=tasks, i=st.integers(0, SESSIONS - 1), subject=st.sampled_from(TEXTS))
    def create(self, i: int, subject: str) -> str:
        task = self.act(i, "create", Edits(subject=subject, description=DESCRIPTIONS[0]))
        assert task is not None
        return task.id  # type: ignore[attr-defined,no-any-return]

    @rule(task=tasks, data=st.data())
    def update(self, task: str, data: st.DataObject) -> None:
        i = self.knowing(data, task)
        which = data.draw(
            st.sampled_from(
                ["subject", "description", "status", "owner", "active", "meta", "unmeta"]
            )
        )
        edits = {
            "subject": lambda: Edits(subject=data.draw(st.sampled_from(TEXTS))),
            "description": lambda: Edits(description=data.draw(st.sampled_from(DESCRIPTIONS))),
            "status": lambda: Edits(status=data.draw(st.sampled_from(list(Status)))),
            "owner": lambda: Edits(owner=data.draw(st.sampled_from(["", "s0", "s1"]))),
            "active": lambda: Edits(active_form=data.draw(st.sampled_from(["", "Doing"]))),
            "meta": lambda: Edits(
                set_meta={data.draw(st.sampled_from("kl")): data.draw(st.integers(0, 2))}
            ),
            "unmeta": lambda: Edits(unset_meta=[data.draw(st.sampled_from("kl"))]),
        }[which]()
        self.act(i, "update", task, edits, force=data.draw(st.booleans()))

    @rule(task=tasks, text=st.sampled_from(TEXTS), data=st.data())
    def note(self, task: str, text: str, data: st.DataObject) -> None:
        self.act(self.knowing(data, task), "note", task, text)

    @rule(task=tasks, lease=st.sampled_from([1, 60]), data=st.data())
    def claim(self, task: str, lease: int, data: st.DataObject) -> None:
        self.act(self.knowing(data, task), "claim", task, lease_seconds=lease)

    @rule(task=tasks, data=st.data())
    def release(self, task: str, data: st.DataObject) -> None:
        self.act(self.knowing(data, task), "release", task)

    @rule(task=tasks, data=st.data())
    def delete(self, task: str, data: st.DataObject) -> None:
        self.act(self.knowing(data, task), "delete", task, force=True)

    @rule(task=tasks, other=tasks, add=st.booleans(), data=st.data())
    def dependency(self, task: str, other: str, add: bool, data: st.DataObject) -> None:
        edits = Edits(add_blocked_by=[other]) if add else Edits(remove_blocked_by=[other])
        self.act(self.knowing(data, task), "update", task, edits)

    @rule(ms=st.sampled_from([500, 5000, 120_000]))
    def time_passes(self, ms: int) -> None:
        self.clock.now += ms

    @rule(i=st.integers(0, SESSIONS - 1), j=st.integers(0, SESSIONS - 1), data=st.data())
    def sync(self, i: int, j: int, data: st.DataObject) -> None:
        """Deliver an arbitrary subset of i's records to j, reordered and duplicated."""
        if i == j:
            return
        lines = self.ledgers[i].outgoing()
        if not lines:
            return
        chosen = data.draw(st.lists(st.sampled_from(lines), max_size=2 * len(lines)))
        received = self.ledgers[j].receive(chosen)
        assert not received.rejected, received.rejected
        event("sync: some records wait for earlier ones" if received.waiting else "sync: all filed")

    @rule(i=st.integers(0, SESSIONS - 1))
    def crash(self, i: int) -> None:
        """Half of a record at the end of i's own log, as a writer killed mid-append leaves."""
        own = list((data_dir(self.root / f"r{i}") / "logs").glob(f"s{i}.*.jsonl"))
        if not own:
            return
        last = own[0].read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        with open(own[0], "ab") as fh:
            fh.write(last[: len(last) // 2])
        self.crashed[i] = True

    @rule()
    def full_sync(self) -> None:
        """Everyone receives everything, then the promises are checked."""
        everything = [line for ledger in self.ledgers for line in ledger.outgoing()]
        for ledger in self.ledgers:
            ledger.receive(everything)
        self.check_converged()
        event("full sync: converged and checked")

    # ------------------------------------------------------------- invariants

    @invariant()
    def every_replica_answers(self) -> None:
        for ledger in self.ledgers:
            ledger.state()

    def check_converged(self) -> None:
        states = [ledger.state() for ledger in self.ledgers]
        assert states[0] == states[1] == states[2], "replicas differ after a full sync"
        state = states[0]
        now = self.clock.now
        # at most one holder per task, and every replica agrees on it
        for task_id in state.tasks:
            holders = {ledger.state().tasks[task_id].holder(now) for ledger in self.ledgers}
            assert len(holders) == 1
        # every committed write is current, overwritten knowingly, or a listed conflict
        replayer = Replayer(data_dir(self.root / "r0") / "logs")
        replayer.catch_up()
        records = trail(replayer)
        all_writes = list(writes(records))
        bases = {w.change.base for w in all_writes}
        lost = {c.lost.ref + c.register + c.task for c in conflicts(records)}
        for write in all_writes:
            task = state.tasks[write.task]
            winner = dict(task.provenance).get(write.register)
            accounted = (
                (winner is not None and winner.ref == write.ref)
                or write.ref in bases
                or write.ref + write.register + write.task in lost
            )
            assert accounted, f"{write.register} of {write.task} by {write.ref} vanished"
        # verify: nothing but the torn tails of crashes
        for i, ledger in enumerate(self.ledgers):
            report = ledger.verify()
            errors = [p for p in report.problems if p.severity == "error"]
            assert not errors, errors
            torn = [p for p in report.problems if "torn" in p.message]
            assert len(torn) == len(report.problems)
            if torn:
                assert self.crashed[i]
                event("verify: torn tails only")


# At least 200 examples even in the default profile (CI); the long profile's 5,000 locally.
Races.TestCase.settings = settings(
    settings(), max_examples=max(200, settings().max_examples), stateful_step_count=30
)
test_racing_sessions_lose_nothing = Races.TestCase
