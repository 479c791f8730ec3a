"""The smallest race that loses an update in the naive files, found by hypothesis.

A *race* is a few sessions, each with a few ops (set its own metadata key,
append a note, claim a task), and an interleaving of their steps: every op
is a *read* of the task followed, later, by a *write* of the changed task --
exactly how a session updates Claude Code's shared files. hypothesis
searches the races for one whose outcome loses a committed change or lets
two sessions both believe they hold a task, and shrinks it to the smallest
such race. The same race is then replayed against the ledger: a read is the
state the session decides on, a write is its op, decided on that state.

hypothesis is imported only here, and only when asked for
(``taskledger simulate --shrink``; the ``sim`` extra installs it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger import Contention, Edits, Ledger, LedgerError

from ._naive import NaiveStore, change

SESSIONS = ("A", "B", "C")
TASKS = ("1", "2")


@dataclass(frozen=True, slots=True)
class RaceOp:
    """One op of a session: ``meta`` (its own key), ``note`` or ``claim``, on a task."""

    kind: str
    task: int


@dataclass(frozen=True, slots=True)
class Race:
    """Sessions' ops and the order their steps ran in.

    Attributes:
        ops: per session, its ops in order.
        schedule: session names; the n-th occurrence of a session runs the
            read (even) or write (odd) step of its n // 2-th op.
    """

    ops: dict[str, tuple[RaceOp, ...]]
    schedule: tuple[str, ...]

    def steps(self) -> list[tuple[str, int, str]]:
        """``(session, op index, "read" | "write")`` in execution order."""
        seen: dict[str, int] = {}
        out = []
        for session in self.schedule:
            n = seen.get(session, 0)
            seen[session] = n + 1
            out.append((session, n // 2, "read" if n % 2 == 0 else "write"))
        return out


@dataclass(slots=True)
class Outcome:
    """What a race did to one store.

    Attributes:
        timeline: one line per step.
        lost: committed changes missing at the end.
        double_claims: tasks that two sessions both believe they hold.
    """

    timeline: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    double_claims: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        """True when anything was lost or double-claimed."""
        return bool(self.lost or self.double_claims)


def _what(session: str, op: RaceOp, n: int) -> str:
    if op.kind == "meta":
        return f"metadata {session.lower()}{n}=1"
    if op.kind == "note":
        return f"note '{session}{n}'"
    return "the claim"


def _check(race: Race, outcome: Outcome, committed: set[tuple[str, int]], present: Any) -> None:
    holders: dict[int, list[str]] = {}
    for session, ops in race.ops.items():
        for n, op in enumerate(ops):
            if (session, n) not in committed:
                continue
            if op.kind == "claim":
                holders.setdefault(op.task, []).append(session)
            elif not present(session, n, op):
                outcome.lost.append(f"{session}'s {_what(session, op, n)} on task {TASKS[op.task]}")
    for task, sessions in holders.items():
        if len(set(sessions)) > 1:
            names = " and ".join(sorted(set(sessions)))
            outcome.double_claims.append(f"task {TASKS[task]} is claimed by both {names}")


def run_naive(race: Race) -> Outcome:
    """Run a race against Claude-Code-style files, step by step."""
    folder = Path(tempfile.mkdtemp(prefix="tl-race-naive-"))
    try:
        store = NaiveStore(folder)
        for task in TASKS:
            store.create(task, f"task {task}")
        outcome = Outcome()
        read: dict[tuple[str, int], dict[str, Any]] = {}
        committed: set[tuple[str, int]] = set()
        for t, (session, n, phase) in enumerate(race.steps(), 1):
            op = race.ops[session][n]
            task = TASKS[op.task]
            if phase == "read":
                data = read[(session, n)] = store.read(task)
                keys = ", ".join(sorted(data["metadata"])) or "none"
                owner = data["owner"] or "nobody"
                outcome.timeline.append(
                    f"t{t}  {session} reads task {task}  (metadata: {keys}; owner: {owner})"
                )
                continue
            data = read[(session, n)]
            arg: Any = [f"{session.lower()}{n}", 1] if op.kind == "meta" else f"{session}{n}"
            if change(data, op.kind, session, arg):
                store.write(data)
                committed.add((session, n))
                outcome.timeline.append(
                    f"t{t}  {session} writes task {task} back with {_what(session, op, n)}"
                )
            else:
                outcome.timeline.append(f"t{t}  {session} finds task {task} owned: no claim")
        final = store.tasks()

        def present(session: str, n: int, op: RaceOp) -> bool:
            task = final[TASKS[op.task]]
            if op.kind == "meta":
                return f"{session.lower()}{n}" in task["metadata"]
            return f"{session}{n}\n" in task["description"]

        _check(race, outcome, committed, present)
        return outcome
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_ledger(race: Race) -> Outcome:
    """Run the same race against the ledger: each write decided on its session's read."""

    work = Path(tempfile.mkdtemp(prefix="tl-race-ledger-"))
    home = work / "tasks"  # (its data folder, work/taskledger, goes with it)
    try:
        planner = Ledger.open(home, "main", "planner")
        ids = [planner.create(Edits(subject=f"task {t}")).id for t in TASKS]
        ledgers = {s: Ledger.open(home, "main", s) for s in race.ops}
        outcome = Outcome()
        seen: dict[tuple[str, int], Any] = {}
        committed: set[tuple[str, int]] = set()
        for t, (session, n, phase) in enumerate(race.steps(), 1):
            op = race.ops[session][n]
            ledger, task = ledgers[session], ids[op.task]
            if phase == "read":
                seen[(session, n)] = ledger.state()
                outcome.timeline.append(f"t{t}  {session} reads task {TASKS[op.task]}")
                continue
            try:
                if op.kind == "meta":
                    edits = Edits(set_meta={f"{session.lower()}{n}": 1})
                    ledger.update(task, edits, based_on=seen[(session, n)])
                elif op.kind == "note":
                    ledger.note(task, f"{session}{n}")
                else:
                    ledger.claim(task)
            except Contention as exc:
                outcome.timeline.append(f"t{t}  {session} is refused: {exc} (exit 3)")
                continue
            except LedgerError as exc:
                outcome.timeline.append(f"t{t}  {session} is refused: {exc}")
                continue
            committed.add((session, n))
            outcome.timeline.append(
                f"t{t}  {session} appends {_what(session, op, n)} on task {TASKS[op.task]}"
            )
        final = Ledger.open(home, "main", "auditor").state()

        def present(session: str, n: int, op: RaceOp) -> bool:
            task = final.tasks[ids[op.task]]
            if op.kind == "meta":
                return f"{session.lower()}{n}" in task.meta()
            return any(note.text == f"{session}{n}" for note in task.notes)

        _check(race, outcome, committed, present)
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_smallest_losing_race(max_examples: int = 2000) -> Race:
    """Let hypothesis find a race that loses something in the naive files, and shrink it.

    Raises:
        ImportError: when hypothesis is not installed.
        LookupError: when no losing race turns up within ``max_examples``.
    """
    from hypothesis import HealthCheck, find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    op = st.builds(RaceOp, st.sampled_from(["meta", "note", "claim"]), st.integers(0, 1))

    @st.composite
    def races(draw: Any) -> Race:
        count = draw(st.integers(2, len(SESSIONS)))
        ops = {s: tuple(draw(st.lists(op, min_size=1, max_size=3))) for s in SESSIONS[:count]}
        steps = [s for s, mine in ops.items() for _ in range(2 * len(mine))]
        return Race(ops, tuple(draw(st.permutations(steps))))

    try:
        found: Race = find(
            races(),
            lambda race: run_naive(race).bad,
            settings=settings(
                max_examples=max_examples,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except NoSuchExample as exc:
        raise LookupError("no losing race found") from exc
    return found


def describe(race: Race) -> Sequence[str]:
    """The race's ops, one line per session."""
    return [
        f"{session}: " + ", ".join(f"{o.kind} task {TASKS[o.task]}" for o in ops)
        for session, ops in race.ops.items()
    ]
