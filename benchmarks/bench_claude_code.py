"""Living beside Claude Code: what recording its writes costs.

Run: ``python -m benchmarks.bench_claude_code`` (``--quick`` for fewer samples).

* **native write -> op**: a real ``taskledger watch --json`` follows a list
  of 1,000 tasks while the model of Claude Code's store (``tests/claude_code.py``,
  build 2.1.332: lock, temp file, rename) changes one task's metadata ten
  times a second. Each write is stamped when its rename returns; each op the
  watcher prints is stamped when its line arrives. p50 / p99 of the gap.
* **ingest check on a warm list**: ``Ledger.state()`` of a 1,000-task list
  whose folder nothing changed, against the read alone (``Reader.state``):
  the difference is what looking for Claude Code's writes adds to every
  command (goal: at most 2 ms at 1k tasks). Both in-process, median of many.
"""

from __future__ import annotations

import queue
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import (  # noqa: E402
    arrivals_of,
    bulk,
    cli_env,
    fmt_ms,
    line_arrivals,
    part_main,
    percentile,
    scratch,
)
from ledger import Layout, Ledger  # noqa: E402
from tests.claude_code import NEW, ClaudeCode  # noqa: E402

HEADER = ["measurement", "p50 / median", "p99 / floor", "goal"]
TASKS = 1000


def _list(home: Path) -> str:
    bulk(home / "tasks", "main", TASKS)
    ledger = Ledger.open(home / "tasks", "main", "setup")
    ledger.materialize()
    return ledger.tasks()[0].id


def native_latency(writes: int) -> list[float]:
    """Seconds from a native write to the watcher's line for its op."""
    with scratch("tl-cc-lat-") as root:
        tid = _list(root)
        env = cli_env(root / "tasks", "main", "watcher")
        watcher = subprocess.Popen(
            [sys.executable, "-m", "cli", "watch", "--json"], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert watcher.stdout is not None
        arrivals = line_arrivals(watcher.stdout)
        cc = ClaudeCode(root, "main", NEW)
        # wait until the watcher follows: write until one op comes back
        for n in range(600):
            cc.update(tid, metadata={"warmup": n})
            try:
                arrivals.get(timeout=0.1)
                break
            except queue.Empty:
                continue
        time.sleep(0.5)
        while not arrivals.empty():
            arrivals.get()
        stamps: dict[int, float] = {}
        for n in range(writes):
            cc.update(tid, metadata={"n": n})
            stamps[n] = time.time()
            time.sleep(0.1)

        def written(record: dict[str, Any]) -> object:
            change = record["fields"].get("metadata", {}).get("n")
            return change.get("new") if isinstance(change, dict) else None

        seen = arrivals_of(arrivals, written, stamps)
        watcher.terminate()
        watcher.wait()
        if watcher.stdout is not None:
            watcher.stdout.close()
        missing = set(stamps) - set(seen)
        assert not missing, f"{len(missing)} native writes never became ops"
        return [seen[n] - stamps[n] for n in stamps]


def ingest_check(rounds: int) -> tuple[float, float]:
    """Median seconds of ``Ledger.state()`` and of the read alone, on a warm list."""
    with scratch("tl-cc-warm-") as root:
        _list(root)
        layout = Layout.of(root / "tasks", "main")
        full, bare = [], []
        for _ in range(rounds):  # a fresh Ledger each time, as each command has
            ledger = Ledger(layout, "bench", long_lived=False)
            start = time.perf_counter()
            ledger.state()
            full.append(time.perf_counter() - start)
            ledger = Ledger(layout, "bench", long_lived=False)
            start = time.perf_counter()
            ledger.reader.state()
            bare.append(time.perf_counter() - start)
        return statistics.median(full), statistics.median(bare)


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    lat = native_latency(50 if quick else 200)
    full, bare = ingest_check(50 if quick else 300)
    rows = [
        [f"native write -> op ({len(lat)} writes, watch running)", fmt_ms(statistics.median(lat)),
         fmt_ms(percentile(lat, 99)), "-"],
        [f"warm list of {TASKS} tasks, with the ingest check", fmt_ms(full), fmt_ms(bare),
         "≤ read + 2 ms"],
        ["  the ingest check itself", fmt_ms(full - bare), "", "≤ 2 ms"],
    ]  # fmt: skip
    results = {
        "native_to_op_p50_ms": statistics.median(lat) * 1000,
        "native_to_op_p99_ms": percentile(lat, 99) * 1000,
        "warm_state_ms": full * 1000,
        "warm_read_only_ms": bare * 1000,
        "ingest_check_ms": (full - bare) * 1000,
    }
    return rows, results


def main() -> None:
    part_main("claude_code", "Beside Claude Code", HEADER, run)


if __name__ == "__main__":
    main()
