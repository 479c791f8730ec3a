"""Sync over git: a fresh replica, an incremental round among 8, and op-to-list latency.

Run: ``python -m benchmarks.bench_sync`` (``--quick``: smaller). The remote is
a bare git repository on this machine (so the figures are git's and the
ledger's, not a network's):

* **fresh replica**: replica A holds 10,000 ops (1,000 tasks, 9 updates
  each) and has pushed; a new replica B runs ``taskledger sync`` once.
* **incremental**: 8 replicas in sync; each appends ~13 ops (100 in all);
  then each runs ``sync`` once, in turn; the time of the whole round, and per
  sync.
* **op -> list**: replicas A and B each run ``taskledger sync --watch
  --interval 0.2``; A creates a task; the time until B's ``list`` shows it
  (p50 over several ops). It is bounded by the two intervals plus a sync.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import (  # noqa: E402
    bulk,
    fmt_ms,
    part_main,
    scratch,
)
from ledger import Edits, Layout, Ledger  # noqa: E402

HEADER = ["measurement", "time", "note"]


def _env(home: Path, machine: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TASKLEDGER_HOME=str(home), TASKLEDGER_LIST="main", TASKLEDGER_SESSION="bench",
               TASKLEDGER_MACHINE=machine)  # fmt: skip
    return env


def _sync(home: Path, machine: str, remote: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "sync", str(remote)], env=_env(home, machine),
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def fresh(root: Path, tasks: int) -> float:
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    bulk(root / "a", "main", tasks, 9)
    _sync(root / "a", "ma", remote)
    return _sync(root / "b", "mb", remote)


def incremental(root: Path, replicas: int, ops: int) -> tuple[float, float]:
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    homes = [root / f"r{n}" for n in range(replicas)]
    for _ in range(2):
        for n, home in enumerate(homes):
            _sync(home, f"m{n}", remote)
    for n, home in enumerate(homes):
        os.environ["TASKLEDGER_MACHINE"] = f"m{n}"
        ledger = Ledger(Layout.of(home, "main"), f"s{n}", long_lived=False)
        for k in range(ops // replicas + (1 if n < ops % replicas else 0)):
            ledger.create(Edits(subject=f"r{n} op {k}"))
    os.environ.pop("TASKLEDGER_MACHINE", None)
    times = [_sync(home, f"m{n}", remote) for n, home in enumerate(homes)]
    return sum(times), statistics.median(times)


def latency(root: Path, samples: int) -> list[float]:
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    a, b = root / "a", root / "b"
    for home, machine in ((a, "ma"), (b, "mb"), (a, "ma")):
        _sync(home, machine, remote)
    watchers = [
        subprocess.Popen([sys.executable, "-m", "cli", "sync", "--watch", "--interval", "0.2"],
                         env=_env(home, machine), cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for home, machine in ((a, "ma"), (b, "mb"))
    ]  # fmt: skip
    out = []
    try:
        os.environ["TASKLEDGER_MACHINE"] = "ma"
        writer = Ledger(Layout.of(a, "main"), "writer")
        os.environ["TASKLEDGER_MACHINE"] = "mb"
        reader = Ledger(Layout.of(b, "main"), "reader")
        for n in range(samples):
            task = writer.create(Edits(subject=f"latency {n}"))
            start = time.perf_counter()
            while task.id not in reader.state().rows:
                time.sleep(0.02)
                if time.perf_counter() - start > 60:
                    raise RuntimeError("the op never reached the other replica")
            out.append(time.perf_counter() - start)
    finally:
        os.environ.pop("TASKLEDGER_MACHINE", None)
        for proc in watchers:
            proc.terminate()
            proc.wait()
    return out


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    tasks = 100 if quick else 1000
    with scratch("tl-sync-") as root:
        first = fresh(root / "fresh", tasks)
        total, each = incremental(root / "inc", 8, 100)
        lat = latency(root / "lat", 5 if quick else 15)
    rows = [
        [f"sync {tasks * 10:,} ops into a fresh replica", fmt_ms(first), "one `taskledger sync`"],
        ["100 new ops among 8 replicas: one round of syncs", fmt_ms(total),
         f"{fmt_ms(each)} per sync"],
        [f"op on A -> B's list, sync --watch on both (p50 of {len(lat)})",
         fmt_ms(statistics.median(lat)), "intervals 0.2 s"],
    ]  # fmt: skip
    results = {"fresh_s": first, "incremental_round_s": total, "incremental_each_s": each,
               "op_to_list_p50_s": statistics.median(lat)}  # fmt: skip
    return rows, results


def main() -> None:
    part_main("sync", "Sync over git", HEADER, run)


if __name__ == "__main__":
    main()
