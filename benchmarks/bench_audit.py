"""Audit costs on 100k ops: history, export, conflicts, time travel and verify.

Run: ``python benchmarks/bench_audit.py`` (``--ops-per-task`` and ``--tasks``
change the size). Builds one ledger of ``tasks x ops-per-task`` ops with
``benchmarks/_fixtures.bulk`` and times each command as a fresh
``taskledger`` process (median of ``--runs``). Prints a table and writes
``benchmarks/results/audit.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fixtures import BULK_START_MS, bulk, cli_env, timed
from ledger._timeparse import iso_ms

TASKLEDGER = [sys.executable, "-m", "cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--ops-per-task", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tl-audit-"))
    try:
        ops = bulk(home, "bench", args.tasks, args.ops_per_task - 1)
        env = cli_env(home, "bench")
        timed([*TASKLEDGER, "list"], env=env, runs=1)  # build the view once
        last = subprocess.run(
            [*TASKLEDGER, "history", "--json", "--limit", "1"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        task = json.loads(last.stdout)["task"]
        middle = iso_ms(BULK_START_MS + ops // 2)  # bulk stamps one op per millisecond
        commands = {
            "history (human, all ops)": ["history"],
            "history --json (all ops)": ["history", "--json"],
            "history ID (one task)": ["history", task],
            "export --format csv": ["export", "--format", "csv"],
            "conflicts": ["conflicts"],
            "show ID --at (replay to a moment)": ["show", task, "--at", middle],
            "verify": ["verify"],
        }
        results = {"ops": ops, "seconds": {}}
        for label, argv in commands.items():
            results["seconds"][label] = timed([*TASKLEDGER, *argv], env=env, runs=args.runs)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"audit commands on {ops:,} ops ({args.tasks:,} tasks), median of {args.runs} runs")
    width = max(map(len, results["seconds"]))
    for label, seconds in results["seconds"].items():
        print(f"  {label.ljust(width)}  {seconds:7.2f} s")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "audit.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
