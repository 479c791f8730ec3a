"""Propagation: a library append in one process -> the event in another's ``watch``.

Run: ``python benchmarks/bench_watch.py`` (``--appends N`` per configuration).
For 1, 4 and 16 concurrent writer processes, with inotify and with
``--poll``, writers append notes through the library while a real
``taskledger watch --json`` process follows the list. A writer stamps each
append the moment it returns from the fsynced write (the record is on disk);
the harness stamps each line of the watcher's stdout as it arrives. The
latency is the difference (same machine, same clock). The writers together
offer a fixed load (``--rate`` appends per second, 100 by default, each
writer pausing ``writers / rate`` seconds on average between appends), so
that the number of writers, not saturation, is what varies. Prints p50/p99
per configuration and writes ``benchmarks/results/watch.json``.
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

from benchmarks._fixtures import arrivals_of, line_arrivals  # noqa: E402
from ledger import Edits, Ledger  # noqa: E402

WRITER = """
import json, random, sys, time
from ledger import Ledger
import ledger._append as log
home, session, tid, count, start, out, gap = sys.argv[1:8]
stamps = []
original = log.Appender.append
def append(self, line):
    original(self, line)
    stamps.append(time.time())      # the record is on disk now
log.Appender.append = append
ledger = Ledger.open(home, "main", session)
ledger.state()
rng = random.Random(session)
time.sleep(max(0.0, float(start) - time.time()))
texts = []
for n in range(int(count)):
    text = f"{session}:{n}"
    ledger.note(tid, text)
    texts.append(text)
    time.sleep(rng.uniform(0.5, 1.5) * float(gap))
json.dump(dict(zip(texts, stamps)), open(out, "w"))
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(writers: int, appends: int, poll: bool, rate: float) -> list[float]:
    home = Path(tempfile.mkdtemp(prefix="tl-watch-"))
    work = Path(tempfile.mkdtemp(prefix="tl-watch-out-"))
    try:
        tid = Ledger.open(home, "main", "setup").create(Edits(subject="busy task")).id
        env = dict(os.environ, TASKLEDGER_HOME=str(home), TASKLEDGER_LIST="main")
        mode = ["--poll", "--poll-interval", "0.05"] if poll else []
        watcher = subprocess.Popen(
            [sys.executable, "-m", "cli", "watch", "--json", *mode],
            env={**env, "TASKLEDGER_SESSION": "watcher"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert watcher.stdout is not None
        arrivals = line_arrivals(watcher.stdout)
        time.sleep(2.0)  # the watcher is up and caught up
        per_writer = -(-appends // writers)
        start = time.time() + 2.0
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(home), f"w{n:02d}", tid, str(per_writer),
                 str(start), str(work / f"w{n}.json"), str(writers / rate)],
                env={**env, "PYTHONPATH": str(ROOT)},
            )
            for n in range(writers)
        ]  # fmt: skip
        for proc in procs:
            proc.wait()
        stamps: dict[str, float] = {}
        for n in range(writers):
            stamps.update(json.loads((work / f"w{n}.json").read_text()))
        seen = arrivals_of(arrivals, lambda record: record["fields"].get("note"), stamps)
        watcher.terminate()
        watcher.wait()
        if watcher.stdout is not None:
            watcher.stdout.close()
        missing = set(stamps) - set(seen)
        assert not missing, f"{len(missing)} appends never reached the watcher"
        return [seen[t] - stamps[t] for t in stamps]
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=500, help="appends per configuration")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="appends per second, all writers together"
    )
    args = parser.parse_args()
    results = {}
    print(f"append -> watch event latency (ms), about {args.rate:g} appends/s in all")
    print(f"{'mode':8} {'writers':>7} {'appends':>7} {'p50':>7} {'p99':>7} {'max':>7}")
    for poll in (False, True):
        for writers in (1, 4, 16):
            lat = run(writers, args.appends, poll, args.rate)
            mode = "poll" if poll else "inotify"
            row = {
                "appends": len(lat),
                "p50_ms": statistics.median(lat) * 1000,
                "p99_ms": percentile(lat, 99) * 1000,
                "max_ms": max(lat) * 1000,
            }
            results[f"{mode}/{writers}"] = row
            print(
                f"{mode:8} {writers:>7} {row['appends']:>7} {row['p50_ms']:7.1f} "
                f"{row['p99_ms']:7.1f} {row['max_ms']:7.1f}",
                flush=True,
            )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "watch.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
