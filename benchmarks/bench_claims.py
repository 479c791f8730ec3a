"""Claim latency with 1, 8 and 24 processes racing for the same task.

Run: ``python benchmarks/bench_claims.py`` (``--rounds N`` to change the
number of rounds). Each racer is a real process (``tests/racer.py``) that
imports everything first and then, at the start of every round, runs
``taskledger claim <task>`` through the console-script entry point; a round
gives every racer a fresh task. Latency is the command's wall time inside
the racing process (not process start-up), for winners and losers. Prints a
table and writes ``benchmarks/results/claims.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger import Edits, Ledger  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def race(home: Path, racers: int, rounds: int, gap: float) -> list[tuple[int, float]]:
    planner = Ledger.open(home, "main", "planner")
    tasks = [planner.create(Edits(subject=f"round {r}")).id for r in range(rounds)]
    work = Path(tempfile.mkdtemp(prefix="claims-"))
    first = time.time() + 3.0 + 0.15 * racers
    procs = []
    for n in range(racers):
        plan = {
            "session": f"racer{n:02d}",
            "env": {"TASKLEDGER_HOME": str(home), "TASKLEDGER_LIST": "main"},
            "steps": [[first + r * gap, ["claim", tasks[r]]] for r in range(rounds)],
        }
        (work / f"{n}.json").write_text(json.dumps(plan))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "tests" / "racer.py"),
                    str(work / f"{n}.json"),
                    str(work / f"{n}.out"),
                ],
                env=env,
            )
        )
    out = []
    for n, proc in enumerate(procs):
        proc.wait()
        for code, _, _, seconds in json.loads((work / f"{n}.out").read_text()):
            out.append((code, seconds))
    shutil.rmtree(work, ignore_errors=True)
    for r in range(rounds):
        owner = json.loads((home / "main" / f"{tasks[r]}.json").read_text()).get("owner")
        assert owner, f"round {r}: nobody holds the task"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    results = {}
    rows = []
    for racers in (1, 8, 24):
        home = Path(tempfile.mkdtemp(prefix="tl-claims-"))
        rounds = args.rounds * (3 if racers == 1 else 1)
        samples = race(home, racers, rounds, gap=0.3 + 0.05 * racers)
        shutil.rmtree(home, ignore_errors=True)
        wins = [s for c, s in samples if c == 0]
        losses = [s for c, s in samples if c == 3]
        assert len(wins) == rounds, (racers, len(wins), rounds)
        assert len(wins) + len(losses) == len(samples)
        every = [s for _, s in samples]
        results[racers] = {
            "rounds": rounds,
            "attempts": len(samples),
            "p50_ms": statistics.median(every) * 1000,
            "p99_ms": percentile(every, 99) * 1000,
            "winner_p50_ms": statistics.median(wins) * 1000,
            "loser_p50_ms": statistics.median(losses) * 1000 if losses else None,
        }
        r = results[racers]
        rows.append(
            (
                f"{racers:>2} racing",
                f"{len(samples):>4}",
                f"{r['p50_ms']:7.1f}",
                f"{r['p99_ms']:7.1f}",
                f"{r['winner_p50_ms']:7.1f}",
                "      -" if r["loser_p50_ms"] is None else f"{r['loser_p50_ms']:7.1f}",
            )
        )
    print("claim latency (ms), in-process command time of each racing `taskledger claim`")
    print(f"{'':10} {'tries':>5} {'p50':>7} {'p99':>7} {'win p50':>7} {'lose p50':>8}")
    for row in rows:
        print(f"{row[0]:10} {row[1]:>5} {row[2]:>7} {row[3]:>7} {row[4]:>7} {row[5]:>8}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "claims.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
