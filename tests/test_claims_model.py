"""A hypothesis state machine: claims, releases, lease expiry and replica exchange.

Two replicas (folders that exchange only log files) and three sessions act
on two tasks under one injectable clock. A plain model predicts every
outcome: on one replica, claims are linearizable (a claim succeeds exactly
when nobody else holds a live lease); across replicas, the claim or release
with the greatest (HLC, session) wins, and a claimant whose claim lost is
told by its next command. After every step, each replica's holder must be
the model's, and nobody may ever win a claim while another session holds
the task.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger import ClaimHeld, Edits, InvalidValue, Layout, Ledger
from ledger._claims import ClaimFolder
from tests.replicas import Replica

SESSIONS = {"s0": 0, "s1": 0, "s2": 1}  # session -> its replica


@dataclass
class Clock:
    """A clock that moves only when told to."""

    now: int = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


@dataclass(frozen=True)
class Event:
    kind: str  # claim | release
    session: str
    key: tuple[int, int, str, str]  # (hlc ms, counter, session, writer)
    until: int


class Claims(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="claims-sm-"))
        self.clock = Clock()
        self.replicas = [Replica(self.root / f"r{i}", "planner") for i in range(2)]
        planner = Ledger.open(self.replicas[0].home, "main", "planner", clock=self.clock)
        self.tasks = [planner.create(Edits(subject=f"t{n}")).id for n in range(2)]
        self.replicas[0].send_to(self.replicas[1])
        # model: per replica, the claim/release events its logs hold; per replica, the claim files
        self.events: list[dict[str, set[Event]]] = [
            {t: set() for t in self.tasks} for _ in range(2)
        ]
        self.files: list[dict[str, tuple[str, str, int] | None]] = [
            dict.fromkeys(self.tasks) for _ in range(2)
        ]

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def ledger(self, session: str) -> Ledger:
        home = self.replicas[SESSIONS[session]].home
        return Ledger.open(home, "main", session, clock=self.clock)

    # ------------------------------------------------------------- the model

    def winner(self, r: int, task: str) -> Event | None:
        events = self.events[r][task]
        return max(events, key=lambda e: e.key) if events else None

    def log_holder(self, r: int, task: str) -> str | None:
        won = self.winner(r, task)
        if won is None or won.kind != "claim" or won.until <= self.clock.now:
            return None
        return won.session

    def file_holder(self, r: int, task: str) -> str | None:
        found = self.files[r][task]
        if found is None or found[0] != "claim" or found[2] <= self.clock.now:
            return None
        return found[1]

    def holder(self, r: int, task: str) -> str | None:
        return self.log_holder(r, task) or self.file_holder(r, task)

    def lost(self, r: int, task: str, session: str) -> bool:
        """The session's local claim lost to another replica's: it is told, once."""
        if self.file_holder(r, task) != session:
            return False
        return self.log_holder(r, task) not in (None, session)

    def record(self, r: int, task: str, kind: str, session: str, result: object) -> None:
        from ledger import Task

        assert isinstance(result, Task)
        stamp = result.updated
        assert stamp is not None
        until = result.lease.until_ms if kind == "claim" and result.lease else 0
        self.events[r][task].add(Event(kind, session, stamp.key, until))

    # ------------------------------------------------------------- the rules

    @rule(
        session=st.sampled_from(sorted(SESSIONS)),
        n=st.integers(0, 1),
        lease=st.sampled_from([1, 3, 10]),
    )
    def claim(self, session: str, n: int, lease: int) -> None:
        r, task = SESSIONS[session], self.tasks[n]
        lost = self.lost(r, task, session)
        holder = self.holder(r, task)
        expect_ok = not lost and holder in (None, session)
        if expect_ok:
            # linearizable on one replica: nobody else holds a live lease here
            assert self.holder(r, task) in (None, session)
        try:
            result = self.ledger(session).claim(task, lease_seconds=lease)
        except ClaimHeld as exc:
            assert not expect_ok, f"{session} refused: {exc}"
            event("claim: told its claim lost" if lost else "claim: held by another")
            if lost:
                self.files[r][task] = ("lost", session, 0)
            return
        event("claim: won")
        assert expect_ok, f"{session} claimed although {holder} holds {task}"
        self.record(r, task, "claim", session, result)
        self.files[r][task] = ("claim", session, self.clock.now + lease * 1000)

    @rule(session=st.sampled_from(sorted(SESSIONS)), n=st.integers(0, 1))
    def release(self, session: str, n: int) -> None:
        r, task = SESSIONS[session], self.tasks[n]
        lost = self.lost(r, task, session)
        holder = self.holder(r, task)
        won = self.winner(r, task)
        owns = won is not None and won.kind == "claim" and won.session == session
        mine = holder == session or (holder is None and owns)
        try:
            result = self.ledger(session).release(task)
        except ClaimHeld:
            assert lost or holder not in (None, session)
            event("release: told its claim lost" if lost else "release: held by another")
            if lost:
                self.files[r][task] = ("lost", session, 0)
            return
        except InvalidValue:
            assert not lost and holder is None and not owns
            return
        assert not lost and mine
        self.files[r][task] = ("release", session, 0)
        self.record(r, task, "release", session, result)

    @rule(n=st.integers(0, 1), lease=st.sampled_from([3, 10]), first=st.sampled_from(["s0", "s1"]))
    def race_across_replicas(self, n: int, lease: int, first: str) -> None:
        """A session on each replica claims the task, then the replicas exchange logs."""
        self.claim(first, n, lease)
        self.claim("s2", n, lease)
        self.exchange(0)
        self.exchange(1)

    @rule(ms=st.sampled_from([250, 1000, 2500, 6000]))
    def time_passes(self, ms: int) -> None:
        self.clock.now += ms

    @rule(src=st.integers(0, 1))
    def exchange(self, src: int) -> None:
        dst = 1 - src
        self.replicas[src].send_to(self.replicas[dst])
        for task in self.tasks:
            if self.log_holder(src, task) and self.log_holder(dst, task) not in (
                None,
                self.log_holder(src, task),
            ):
                event("exchange: two live claims meet")
        for task in self.tasks:
            self.events[dst][task] |= self.events[src][task]

    # ------------------------------------------------------------ invariants

    @invariant()
    def each_replica_has_the_models_one_holder(self) -> None:
        now = self.clock.now
        for r, replica in enumerate(self.replicas):
            state = Ledger.open(replica.home, "main", "observer", clock=self.clock).state()
            for task in self.tasks:
                log_holder = state.tasks[task].holder(now)
                assert log_holder == self.log_holder(r, task), (r, task)
                _, gen = ClaimFolder(Layout.of(replica.home, "main"), task).latest()
                file_holder = None if gen is None else gen.holder(now)
                assert file_holder == self.file_holder(r, task), (r, task)

    @precondition(lambda self: self.events[0] == self.events[1])
    @invariant()
    def synced_replicas_agree(self) -> None:
        now = self.clock.now
        holders = [
            {
                t: Ledger.open(r.home, "main", "observer", clock=self.clock).get(t).holder(now)
                for t in self.tasks
            }
            for r in self.replicas
        ]
        assert holders[0] == holders[1]


Claims.TestCase.settings = settings(settings(), stateful_step_count=25)
test_claims_against_a_model = Claims.TestCase
