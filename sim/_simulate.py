"""Race simulation: the same random sessions against the naive files and the ledger.

``simulate`` builds one operation script from a seed -- per session, a list
of ops (set a metadata key, append a note, rename, change status, claim,
release, add a dependency), each with a "think time" between reading the
task and writing the change -- and runs it twice with real concurrent
processes, one per session: once against ``NaiveStore`` (Claude Code's
read-modify-write files) and once against the ledger. Then it counts, for
each store:

* **updates lost**: committed changes that must each survive on their own
  (a metadata key no one else sets, a note, a dependency) but are missing
  from the final state;
* **double claims**: pairs of sessions that both held a claim on one task at
  the same time, each believing it was theirs;
* **states that disagree**: tasks whose final state contradicts itself or
  another view of it -- for the files, dependencies recorded on one side
  only; for the ledger, task files or a second replica (the same logs read
  in another order) that differ from a replay.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger import (
    Edits,
    Layout,
    Ledger,
    LedgerError,
    Replayer,
    Status,
    StorageError,
    task_file_json,
)

from ._naive import NaiveStore, change

KINDS = ("meta", "note", "subject", "status", "claim", "release", "dep")
_WEIGHTS = (30, 20, 10, 8, 12, 5, 15)
SURVIVING = ("meta", "note", "dep")  # kinds whose every committed op must survive


@dataclass(frozen=True, slots=True)
class SimOp:
    """One scripted operation of a session.

    Attributes:
        kind: one of ``KINDS``.
        task: index of the task it acts on.
        arg: its argument: ``[key, value]``, a text, a status, or the index
            of the blocker for ``dep``.
        think_ms: the pause between reading the task and writing the change.
    """

    kind: str
    task: int
    arg: Any
    think_ms: float


def make_script(seed: int, sessions: int, ops: int, tasks: int) -> dict[str, list[SimOp]]:
    """The operation script of every session, fixed by the seed.

    Half the ops go to two hot tasks, so that sessions collide often.
    """
    rng = random.Random(seed)
    script: dict[str, list[SimOp]] = {}
    for s in range(sessions):
        name = f"session-{s + 1}"
        mine = []
        for n in range(ops):
            kind = rng.choices(KINDS, _WEIGHTS)[0]
            task = rng.randrange(2) if rng.random() < 0.5 else rng.randrange(tasks)
            arg: Any
            if kind == "meta":
                arg = [f"{name}.{n}", n]
            elif kind == "note":
                arg = f"{name} note {n}"
            elif kind == "subject":
                arg = f"task {task}, as {name} put it ({n})"
            elif kind == "status":
                arg = rng.choice(["pending", "in_progress", "completed"])
            elif kind == "dep":
                if task == 0:
                    task = 1
                arg = rng.randrange(task)  # blockers only from lower indexes: no cycles
            else:
                arg = None
            mine.append(SimOp(kind, task, arg, rng.uniform(0.0, 4.0)))
        script[name] = mine
    return script


@dataclass(slots=True)
class StoreReport:
    """What one store did with the script.

    Attributes:
        attempted: ops tried.
        committed: ops the store accepted (a refused claim is not committed).
        lost: committed ops whose change is missing from the final state.
        double_claims: overlapping claims of one task by two sessions.
        disagreements: tasks whose final state contradicts itself or another view.
        seconds: wall time of the concurrent run.
        lost_examples: a few of the lost changes, described.
        extra: store-specific facts.
    """

    attempted: int = 0
    committed: int = 0
    lost: int = 0
    double_claims: int = 0
    disagreements: int = 0
    seconds: float = 0.0
    lost_examples: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Simulation:
    """Both runs of one script."""

    seed: int
    sessions: int
    ops: int
    tasks: int
    naive: StoreReport
    ledger: StoreReport

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (docs/cli.md, ``simulate --json``)."""
        return asdict(self)


# ------------------------------------------------------------------ workers


def _ledger_worker(
    home: str, session: str, ids: list[str], ops: list[SimOp]
) -> list[dict[str, Any]]:

    ledger = Ledger.open(home, "main", session)
    out = []
    for op in ops:
        task = ids[op.task]
        t0 = time.time()
        ok = True
        try:
            seen = ledger.state()  # the session reads, thinks, then writes
            time.sleep(op.think_ms / 1000)
            if op.kind == "meta":
                ledger.update(task, Edits(set_meta={op.arg[0]: op.arg[1]}), based_on=seen)
            elif op.kind == "note":
                ledger.note(task, op.arg)
            elif op.kind == "subject":
                ledger.update(task, Edits(subject=op.arg), based_on=seen)
            elif op.kind == "status":
                ledger.update(task, Edits(status=Status(op.arg)), based_on=seen)
            elif op.kind == "claim":
                ledger.claim(task, lease_seconds=3600)
            elif op.kind == "release":
                ledger.release(task)
            elif op.kind == "dep":
                ledger.update(task, Edits(add_blocked_by=[ids[op.arg]]), based_on=seen)
        except LedgerError:
            ok = False
        out.append({"ok": ok, "t0": t0, "t1": time.time()})
    return out


def _naive_worker(
    folder: str, session: str, ids: list[str], ops: list[SimOp]
) -> list[dict[str, Any]]:
    store = NaiveStore(Path(folder))
    out = []

    def rmw(task_id: str, kind: str, arg: Any, think_ms: float) -> bool:
        task = store.read(task_id)
        time.sleep(think_ms / 1000)
        ok = change(task, kind, session, arg)
        if ok:
            store.write(task)
        return ok

    for op in ops:
        task = ids[op.task]
        t0 = time.time()
        if op.kind == "dep":  # Claude Code records a dependency on both tasks
            ok = rmw(task, "blocked_by", ids[op.arg], op.think_ms)
            ok = rmw(ids[op.arg], "blocks", task, op.think_ms) and ok
        elif op.kind == "meta":
            ok = rmw(task, "meta", op.arg, op.think_ms)
        else:
            ok = rmw(task, op.kind, op.arg, op.think_ms)
        out.append({"ok": ok, "t0": t0, "t1": time.time()})
    return out


def worker_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of one racing session process (see ``run``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    store, home, session, plan_path, out_path, start = args
    plan = json.loads(Path(plan_path).read_text())
    ops = [SimOp(**op) for op in plan["script"][session]]
    time.sleep(max(0.0, float(start) - time.time()))
    work = _ledger_worker if store == "ledger" else _naive_worker
    results = work(home, session, plan["ids"], ops)
    Path(out_path).write_text(json.dumps(results))


def _race(
    store: str, home: Path, ids: list[str], script: Mapping[str, list[SimOp]]
) -> tuple[dict[str, list[dict[str, Any]]], float]:
    work = Path(tempfile.mkdtemp(prefix=f"tl-sim-{store}-"))
    try:
        plan = work / "plan.json"
        plan.write_text(
            json.dumps(
                {"ids": ids, "script": {s: [asdict(op) for op in ops] for s, ops in script.items()}}
            )
        )
        start = time.time() + 1.0 + 0.1 * len(script)
        code = "from sim import worker_main; worker_main()"
        procs = {
            session: subprocess.Popen(
                [sys.executable, "-c", code, store, str(home), session, str(plan),
                 str(work / f"{session}.json"), repr(start)],
                env=dict(os.environ),
            )
            for session in script
        }  # fmt: skip
        for proc in procs.values():
            proc.wait()
        seconds = time.time() - start
        results = {}
        for session, proc in procs.items():
            if proc.returncode != 0:
                raise StorageError(f"simulated session {session} failed (exit {proc.returncode})")
            results[session] = json.loads((work / f"{session}.json").read_text())
        return results, seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------- analysis


def _double_claims(
    script: Mapping[str, list[SimOp]], results: Mapping[str, list[dict[str, Any]]]
) -> int:
    """Pairs of claims of one task, by two sessions, whose believed holding overlaps."""
    held: dict[int, list[tuple[float, float, str]]] = {}
    for session, ops in script.items():
        since: dict[int, float] = {}
        for op, res in zip(ops, results[session], strict=True):
            if op.kind == "claim" and res["ok"] and op.task not in since:
                since[op.task] = res["t1"]
            elif op.kind == "release" and res["ok"] and op.task in since:
                held.setdefault(op.task, []).append((since.pop(op.task), res["t0"], session))
        for task, start in since.items():
            held.setdefault(task, []).append((start, float("inf"), session))
    pairs = 0
    for spans in held.values():
        for i, (a0, a1, sa) in enumerate(spans):
            for b0, b1, sb in spans[i + 1 :]:
                if sa != sb and a0 < b1 and b0 < a1:
                    pairs += 1
    return pairs


def _count(report: StoreReport, script: Mapping[str, list[SimOp]], results: Any) -> None:
    report.attempted = sum(len(ops) for ops in script.values())
    report.committed = sum(r["ok"] for rs in results.values() for r in rs)
    report.double_claims = _double_claims(script, results)


def _describe(op: SimOp) -> str:
    if op.kind == "meta":
        return f"metadata {op.arg[0]}={op.arg[1]}"
    if op.kind == "note":
        return f"note {op.arg!r}"
    return f"dependency on task {op.arg}"


def _lost(
    report: StoreReport,
    script: Mapping[str, list[SimOp]],
    results: Mapping[str, list[dict[str, Any]]],
    ids: list[str],
    present: Any,
) -> None:
    for session, ops in script.items():
        for op, res in zip(ops, results[session], strict=True):
            if op.kind in SURVIVING and res["ok"] and not present(op, ids):
                report.lost += 1
                if len(report.lost_examples) < 5:
                    report.lost_examples.append(f"{session}'s {_describe(op)} on task {op.task}")


def run_naive(home: Path, ids: list[str], script: Mapping[str, list[SimOp]]) -> StoreReport:
    """Race the script against Claude-Code-style files in ``home``."""
    store = NaiveStore(home)
    for n, task_id in enumerate(ids):
        store.create(task_id, f"task {n}")
    results, seconds = _race("naive", home, ids, script)
    report = StoreReport(seconds=seconds)
    _count(report, script, results)
    final = store.tasks()

    def present(op: SimOp, ids: list[str]) -> bool:
        task = final[ids[op.task]]
        if op.kind == "meta":
            return bool(task.get("metadata", {}).get(op.arg[0]) == op.arg[1])
        if op.kind == "note":
            return f"{op.arg}\n" in task.get("description", "")
        return ids[op.arg] in task.get("blockedBy", [])

    _lost(report, script, results, ids, present)
    for task_id, task in final.items():
        blocks_ok = all(task_id in final[b].get("blockedBy", []) for b in task.get("blocks", []))
        by_ok = all(task_id in final[b].get("blocks", []) for b in task.get("blockedBy", []))
        if not (blocks_ok and by_ok):
            report.disagreements += 1
    return report


def run_ledger(home: Path, ids: list[str], script: Mapping[str, list[SimOp]]) -> StoreReport:
    """Race the script against the ledger in ``home`` (list ``main``)."""

    results, seconds = _race("ledger", home, ids, script)
    report = StoreReport(seconds=seconds)
    _count(report, script, results)
    layout = Layout.of(home, "main")
    replayer = Replayer(layout.logs, trusted=layout.data)
    replayer.catch_up()
    final = replayer.state()

    def present(op: SimOp, ids: list[str]) -> bool:
        task = final.tasks[ids[op.task]]
        if op.kind == "meta":
            return bool(task.meta().get(op.arg[0]) == op.arg[1])
        if op.kind == "note":
            return any(n.text == op.arg for n in task.notes)
        return ids[op.arg] in task.blocked_by

    _lost(report, script, results, ids, present)
    # another replica: the same logs, read in the opposite order
    other = Replayer(layout.logs, trusted=layout.data)
    other.catch_up(order=sorted((p.name for p in layout.logs.glob("*.jsonl")), reverse=True))
    second = other.state()
    ledger = Ledger.open(home, "main", "auditor")
    ledger.state()  # any command leaves the files current
    for task_id, task in final.tasks.items():
        path = layout.view / f"{task_id}.json"
        on_disk = json.loads(path.read_text()) if path.exists() else None
        if second.tasks.get(task_id) != task or (on_disk != task_file_json(task)):
            report.disagreements += 1
    report.extra = {
        "replicas_identical": second == final,
        "conflicts_listed": len(ledger.conflicts()),
        "verify_ok": ledger.verify().ok,
    }
    return report


def simulate(sessions: int, ops: int, seed: int, tasks: int = 10) -> Simulation:
    """Run one script against both stores, with real concurrent processes.

    Args:
        sessions: how many sessions race (one process each).
        ops: how many ops each session runs.
        seed: fixes the script.
        tasks: how many tasks the list has.
    """

    script = make_script(seed, sessions, ops, tasks)
    root = Path(tempfile.mkdtemp(prefix="tl-sim-"))
    try:
        planner = Ledger.open(root / "ledger", "main", "planner")
        ids = [planner.create(Edits(subject=f"task {n}")).id for n in range(tasks)]
        naive = run_naive(root / "naive", ids, script)
        ledger = run_ledger(root / "ledger", ids, script)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Simulation(seed, sessions, ops, tasks, naive, ledger)
