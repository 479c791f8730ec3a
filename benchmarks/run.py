"""The benchmark suite's one entry point: run the parts, print their tables, write JSON.

Run from the repository root::

    python -m benchmarks.run            # stores, cli, replay, mcp (~15 min)
    python -m benchmarks.run --quick    # smaller sizes (~3 min)
    python -m benchmarks.run --only cli,replay
    python -m benchmarks.run --all      # also core, claims, audit and watch (~5 more min)

Every part writes ``benchmarks/results/<part>.json`` (with the machine it ran
on); this writes ``benchmarks/results/suite.json`` with all of them. Each part
is also a script of its own (``python -m benchmarks.bench_<part> --help``).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import machine, print_table, write_results  # noqa: E402

# Parts with a ``run(quick) -> (rows, results)`` and a ``HEADER``, in order.
TABLES = {
    "stores": "Same workload, three stores (writer processes racing on 20 tasks)",
    "cli": "CLI wall time (median of fresh processes)",
    "replay": "Replay",
    "mcp": "MCP server, per call through the SDK's stdio client",
    "claude_code": "Beside Claude Code (native writes recorded, the check on every command)",
    "long_lived": "A long-lived process (successive library writes on one Ledger)",
    "sync": "Sync over git (a bare repository on this machine)",
    "board": "The board in headless Chromium",
}
# Older parts that print their own tables; run as scripts with ``--all``.
SCRIPTS = ("core", "claims", "audit", "watch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes everywhere")
    parser.add_argument("--only", help=f"comma-separated parts of: {', '.join(TABLES)}")
    parser.add_argument("--all", action="store_true", help=f"also {', '.join(SCRIPTS)}")
    args = parser.parse_args()
    parts = list(TABLES) if not args.only else [p.strip() for p in args.only.split(",")]
    unknown = [p for p in parts if p not in TABLES and p not in SCRIPTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}")
    print(f"taskledger benchmarks on {machine()}", flush=True)
    suite: dict[str, Any] = {}
    for part in parts:
        if part in SCRIPTS:
            continue
        module = importlib.import_module(f"benchmarks.bench_{part}")
        start = time.perf_counter()
        rows, results = module.run(args.quick)
        suite[part] = results
        print_table(f"{TABLES[part]}  [{time.perf_counter() - start:.0f} s]", module.HEADER, rows)
        write_results(part, results)
    for part in SCRIPTS:
        if args.all or part in parts:
            subprocess.run([sys.executable, f"benchmarks/bench_{part}.py"], cwd=ROOT, check=True)
    path = write_results("suite", suite)
    print(f"\nresults: {path.relative_to(ROOT)} (and one file per part)")


if __name__ == "__main__":
    main()
