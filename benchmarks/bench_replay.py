"""Replay: 1M ops from scratch, 1k new ops on top of the cache, bytes per op, peak RSS.

Run: ``python -m benchmarks.bench_replay`` (``--quick``: 100k ops instead of 1M).
Each measurement runs in a fresh child process that has imported everything
first, so the time is the work and the peak RSS (``VmHWM``) is that
process's own.

* full replay: every log read, every record checked, every pycrdt update
  applied and every task resolved, with no cache (``Replayer.catch_up`` +
  ``state``);
* floor: the same logs read with nothing but what any replay of this format
  through pycrdt must do -- each line's ``json.loads`` and base64, and
  ``Doc.apply_update`` into one pycrdt doc per shard, one transaction per doc
  (no digest, no check, no state, GC off); the full replay's time less this
  is taskledger's own (its peak RSS is no floor: it holds every update);
* catch-up: a list of 10k tasks with a fresh cache gets 1,000 new ops from
  another writer (100 tasks created and updated 9 times); a new process
  loads the cache and reads only the tails -- first the read alone
  (``Ledger.seen``: snapshot shards as needed, the new ops, the new state),
  then a whole command's share (``Ledger.state``: the same, plus the 100
  task files and the new cache written).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import (  # noqa: E402
    bulk,
    part_main,
    scratch,
)
from ledger import Layout  # noqa: E402

CHILD = """
import json, resource, sys, time
from pathlib import Path
from ledger import Ledger
from ledger import Replayer
import pycrdt

home, list_id, what = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
if what == "full":
    start = time.perf_counter()
    replayer = Replayer(Path(sys.argv[4]))
    replayer.catch_up()
    state = replayer.state()
    out["seconds"] = time.perf_counter() - start
    out["tasks"] = len(state.rows)
elif what == "floor":
    # the least any replay of these logs through pycrdt does: read each line, parse
    # its JSON, decode its updates and apply them, one transaction per shard doc
    import base64, gc
    gc.disable()
    start = time.perf_counter()
    by_shard, ops = {}, 0
    for path in sorted(Path(sys.argv[4]).glob("*.jsonl")):
        with open(path, "rb") as f:
            for line in f:
                for shard, update in json.loads(line)["updates"].items():
                    by_shard.setdefault(shard, []).append(base64.b64decode(update))
                ops += 1
    for updates in by_shard.values():
        doc = pycrdt.Doc()
        with doc.transaction():
            for update in updates:
                doc.apply_update(update)
    out["seconds"] = time.perf_counter() - start
    out["ops"] = ops
else:
    ledger = Ledger.open(home, list_id, "reader")
    start = time.perf_counter()
    seen = ledger.seen()
    out["read_s"] = time.perf_counter() - start
    start = time.perf_counter()
    state = ledger.state()
    out["command_s"] = time.perf_counter() - start
    out["tasks"] = len(state.rows)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
out["peak_rss_mb"] = (int(hwm[0].split()[1]) if hwm else
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
print(json.dumps(out))
"""


def child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def log_bytes(home: Path, list_id: str) -> int:
    return sum(p.stat().st_size for p in Layout.of(home, list_id).logs.glob("*.jsonl"))


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    """Full replay, catch-up and bytes per op; return table rows and raw results."""
    tasks = 10_000 if quick else 100_000
    results: dict[str, Any] = {}
    rows: list[list[str]] = []
    with scratch("tl-replay-") as tmp:
        home = tmp / "full"
        ops = bulk(home, "full", tasks, 9)
        size = log_bytes(home, "full")
        full = child(str(home), "full", "full", str(Layout.of(home, "full").logs))
        assert full["tasks"] == tasks, full
        results["full"] = {"ops": ops, "log_bytes": size, **full}
        floor = child(str(home), "full", "floor", str(Layout.of(home, "full").logs))
        assert floor["ops"] == ops, floor
        results["floor"] = floor
        rows += [
            [f"full replay of {ops:,} ops ({tasks:,} tasks), no cache",
             f"{full['seconds']:.1f} s", f"{full['peak_rss_mb']:.0f} MB"],
            ["  floor: each line's JSON and pycrdt updates, nothing else",
             f"{floor['seconds']:.1f} s", f"{floor['peak_rss_mb']:.0f} MB"],
            ["log bytes on disk per op", f"{size / ops:.0f} B", ""],
        ]  # fmt: skip

        home = tmp / "tail"
        bulk(home, "tail", 10_000)
        child(str(home), "tail", "catch-up")  # builds the cache and the task files
        new = bulk(home, "tail", 100, 9, session="late")
        tail = child(str(home), "tail", "catch-up")
        assert tail["tasks"] == 10_100, tail
        results["catch_up"] = {"ops": new, **tail}
        rows += [
            [f"catch-up of {new:,} new ops on a cached 10k list: read",
             f"{tail['read_s'] * 1000:.0f} ms", f"{tail['peak_rss_mb']:.0f} MB"],
            ["  ... plus 100 task files and the cache written",
             f"{(tail['read_s'] + tail['command_s']) * 1000:.0f} ms", ""],
        ]  # fmt: skip
    return rows, results


HEADER = ["measurement", "time", "peak RSS"]


def main() -> None:
    part_main("replay", "Replay", HEADER, run, quick="100k ops instead of 1M")


if __name__ == "__main__":
    main()
