"""One workload, three stores: taskledger, SQLite (WAL) and the naive JSON files.

Run: ``python -m benchmarks.bench_stores`` (``--quick`` for fewer ops).
N = 1, 4 and 16 writer processes each make the same number of updates to a
small shared list (20 tasks, so writers collide all the time). Every update
sets a metadata key no other update uses, so a lost update is exactly a key
missing at the end. Each store is used the way a real client would:

* **taskledger**: one long-lived ``Ledger`` per process (the library, as the
  MCP server uses it); ``update(task, set_meta=...)`` catches up on the other
  writers' logs, appends to its own log and fsyncs before returning.
* **sqlite**: one connection per process, ``journal_mode=WAL``,
  ``synchronous=FULL`` (a commit is on disk, like a ledger append),
  ``busy_timeout`` 60 s; each update is ``BEGIN IMMEDIATE``, read the task's
  JSON, change it, write it back, ``COMMIT``.
* **naive**: Claude Code's model (``sim.NaiveStore``): read the task file,
  change it, write it back whole (atomically, by rename; no fsync).

All writers start at one instant. Throughput is all ops over the wall time
from that instant to the last writer's end; latency is per op, in the writer.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import percentile, print_table, scratch, write_results  # noqa: E402

STORES = ("taskledger", "sqlite", "naive")
TASKS = 20
LIST_ID = "stores"


def task_ids(root: Path) -> list[str]:
    return json.loads((root / "ids.json").read_text())  # type: ignore[no-any-return]


def setup(store: str, root: Path) -> None:
    """Create the 20 tasks the writers share."""
    root.mkdir(parents=True, exist_ok=True)
    if store == "taskledger":
        from ledger import Edits, Ledger

        ledger = Ledger.open(root / "home", LIST_ID, "setup")
        ids = [ledger.create(Edits(subject=f"task {n}")).id for n in range(TASKS)]
    elif store == "sqlite":
        ids = [f"{n + 1}" for n in range(TASKS)]
        db = sqlite3.connect(root / "tasks.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        for tid in ids:
            doc = {"id": tid, "subject": f"task {tid}", "status": "pending", "metadata": {}}
            db.execute("INSERT INTO tasks VALUES (?, ?)", (tid, json.dumps(doc)))
        db.close()
    else:
        from sim import NaiveStore

        ids = [f"{n + 1}" for n in range(TASKS)]
        naive = NaiveStore(root / "files")
        for tid in ids:
            naive.create(tid, f"task {tid}")
    (root / "ids.json").write_text(json.dumps(ids))


def worker(store: str, root: Path, index: int, ops: int, start_at: float) -> list[float]:
    """Make ``ops`` updates as writer ``index``; return each one's latency in seconds."""
    ids = task_ids(root)
    if store == "taskledger":
        from ledger import Edits, Ledger

        ledger = Ledger.open(root / "home", LIST_ID, f"w{index}")
        ledger.seen()

        def update(tid: str, key: str, value: int) -> None:
            ledger.update(tid, Edits(set_meta={key: value}))

    elif store == "sqlite":
        db = sqlite3.connect(root / "tasks.db", isolation_level=None, timeout=60)
        db.execute("PRAGMA synchronous=FULL")

        def update(tid: str, key: str, value: int) -> None:
            db.execute("BEGIN IMMEDIATE")
            (doc,) = db.execute("SELECT doc FROM tasks WHERE id = ?", (tid,)).fetchone()
            task = json.loads(doc)
            task["metadata"][key] = value
            db.execute("UPDATE tasks SET doc = ? WHERE id = ?", (json.dumps(task), tid))
            db.execute("COMMIT")

    else:
        from sim import NaiveStore, change

        naive = NaiveStore(root / "files")

        def update(tid: str, key: str, value: int) -> None:
            task = naive.read(tid)
            change(task, "meta", f"w{index}", (key, value))
            naive.write(task)

    while time.time() < start_at:
        time.sleep(0.001)
    latencies = []
    for i in range(ops):
        tid = ids[(index * 7 + i) % len(ids)]
        began = time.perf_counter()
        update(tid, f"w{index}-{i}", i)
        latencies.append(time.perf_counter() - began)
    return latencies


def final_metadata(store: str, root: Path) -> dict[str, dict[str, Any]]:
    """Every task's metadata at the end, read fresh from the store."""
    if store == "taskledger":
        from ledger import Ledger

        ledger = Ledger.open(root / "home", LIST_ID, "check")
        return {t.id: dict(t.metadata) for t in ledger.tasks()}
    if store == "sqlite":
        db = sqlite3.connect(root / "tasks.db")
        rows = db.execute("SELECT id, doc FROM tasks").fetchall()
        db.close()
        return {tid: json.loads(doc)["metadata"] for tid, doc in rows}
    from sim import NaiveStore

    return {tid: t.get("metadata", {}) for tid, t in NaiveStore(root / "files").tasks().items()}


def run_one(store: str, root: Path, writers: int, ops: int) -> dict[str, Any]:
    """Race ``writers`` processes on a fresh store; measure and check the result."""
    setup(store, root)
    start_at = time.time() + 1.5 + 0.1 * writers  # every worker is up and imported by then
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_stores",
                "--worker",
                store,
                str(root),
                str(i),
                str(ops),
                repr(start_at),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    latencies: list[float] = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{store} worker failed with exit {proc.returncode}")
        latencies += json.loads(out)
    wall = time.time() - start_at
    final = final_metadata(store, root)
    ids = task_ids(root)
    expected = {
        (ids[(w * 7 + i) % len(ids)], f"w{w}-{i}"): i for w in range(writers) for i in range(ops)
    }
    present = {(tid, k): v for tid, meta in final.items() for k, v in meta.items()}
    lost = sum(1 for key in expected if key not in present)
    wrong = sum(1 for key, v in expected.items() if key in present and present[key] != v)
    total = writers * ops
    return {
        "store": store,
        "writers": writers,
        "ops": total,
        "wall_s": wall,
        "ops_per_s": total / wall,
        "p50_s": statistics.median(latencies),
        "p99_s": percentile(latencies, 99),
        "lost": lost,
        "wrong": wrong,
        "correct": lost == 0 and wrong == 0 and len(present) == len(expected),
    }


def run(quick: bool = False) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Every store at 1, 4 and 16 writers; return table rows and raw results."""
    ops = 30 if quick else 100
    results = []
    rows = []
    with scratch("tl-stores-") as tmp:
        for writers in (1, 4, 16):
            for store in STORES:
                r = run_one(store, tmp / f"{store}-{writers}", writers, ops)
                results.append(r)
                rows.append([
                    store, str(writers), str(r["ops"]), f"{r['ops_per_s']:.0f}",
                    f"{r['p50_s'] * 1000:.1f} ms", f"{r['p99_s'] * 1000:.1f} ms",
                    str(r["lost"]), "yes" if r["correct"] else "NO",
                ])  # fmt: skip
    return rows, results


HEADER = ["store", "writers", "ops", "ops/s", "p50", "p99", "lost updates", "final state correct"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 ops per writer instead of 100")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        store, root, index, ops, start_at = args.worker
        print(json.dumps(worker(store, Path(root), int(index), int(ops), float(start_at))))
        return
    rows, results = run(args.quick)
    print_table("Same workload, three stores", HEADER, rows)
    write_results("stores", results)


if __name__ == "__main__":
    main()
