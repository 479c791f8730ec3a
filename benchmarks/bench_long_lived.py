"""A long-lived process: 2,000 successive library writes on a 10k list never slow down.

Run: ``python -m benchmarks.bench_long_lived`` (``--quick``: 1k tasks, 400 ops).
One ``Ledger`` (long-lived, as the MCP server keeps it) on a list of 10,000
tasks makes 2,000 updates to tasks spread over the list, then 500 creates;
the table gives the median of the first and of the last 200 of each and
their ratio (goal: at most 1.2 times). Every op is committed (fsynced) before the next.

TaskChampion (Taskwarrior's replica store, in Rust) is the peer of the issue
that asked for this figure, on the same workload (``_taskchampion_child``):
its Python binding ``taskchampion-py`` ships on PyPI only as source that
needs crates.io, so it runs in whichever Python imports it -- this one, the
command ``TASKLEDGER_TASKCHAMPION`` names, or the Debian unstable root that
``benchmarks/taskchampion_peer.sh`` makes at ``/opt/tc-sid`` (its packaged
build) -- and is reported as not installed otherwise.
"""

from __future__ import annotations

import json
import os
import shlex
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
from ledger import Edits, Ledger  # noqa: E402

HEADER = ["store", "op", "first 200 (median)", "last 200 (median)", "last / first"]


def _timed(calls: list[Any]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def ledger_runs(tasks: int, updates: int, creates: int) -> dict[str, list[float]]:
    with scratch("tl-long-") as root:
        bulk(root, "main", tasks)
        ledger = Ledger.open(root, "main", "worker")
        ids = [r.id for r in ledger.state().live_rows()]
        step = max(1, len(ids) // 997)  # spread over the list's shards
        update_calls = [
            (lambda n=n: ledger.update(ids[(n * step) % len(ids)], Edits(set_meta={"n": n})))
            for n in range(updates)
        ]
        create_calls = [
            (lambda n=n: ledger.create(Edits(subject=f"new {n}"))) for n in range(creates)
        ]
        return {"update": _timed(update_calls), "create": _timed(create_calls)}


def floor_runs(tasks: int, updates: int) -> dict[str, list[float]]:
    """The file system's share of the same updates, with nothing of the ledger's: per
    op one fsynced 550-byte append and two 211-byte files replaced (temp file and
    rename: the task's file and its baseline), on the same spread of ``tasks`` files.

    The second half of 2,000 updates replaces files the first half replaced; on
    ext4 that rename costs about twice as much (the ledger's cProfile shows the
    same: only ``rename`` grows), which this floor shows in the same run.
    """
    with scratch("tl-floor-") as root:
        folders = [root / "view", root / "baselines"]
        for folder in folders:
            folder.mkdir()
            for n in range(tasks):
                (folder / f"{n:016x}.json").write_bytes(b"x" * 200)
        log = os.open(root / "log.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        step = max(1, tasks // 997)

        def update(n: int) -> None:
            os.write(log, b"y" * 549 + b"\n")
            os.fsync(log)
            name = f"{(n * step) % tasks:016x}.json"
            for folder in folders:
                tmp = folder / f".{name}.{n}.tmp"
                tmp.write_bytes(b"z" * 211)
                tmp.rename(folder / name)

        try:
            return {"update": _timed([lambda n=n: update(n) for n in range(updates)])}
        finally:
            os.close(log)


#: where ``benchmarks/taskchampion_peer.sh`` puts a root whose Python imports taskchampion
PEER_ROOT = Path("/opt/tc-sid")


def _peer_python() -> tuple[list[str] | None, str]:
    """A command running a Python that imports taskchampion, and why there is none."""
    given = os.environ.get("TASKLEDGER_TASKCHAMPION")
    if given:
        return shlex.split(given), ""
    try:
        import taskchampion  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        return [sys.executable], ""
    python = PEER_ROOT / "usr/bin/python3"
    if python.exists() and os.geteuid() == 0:
        return ["chroot", str(PEER_ROOT), "/usr/bin/python3"], ""
    return None, "not installed: run benchmarks/taskchampion_peer.sh (taskchampion-py needs Rust)"


def taskchampion_runs(
    tasks: int, updates: int, creates: int
) -> tuple[dict[str, list[float]] | None, str]:
    """TaskChampion's timings on the same workload (``_taskchampion_child``), or why none."""
    command, why = _peer_python()
    if command is None:
        return None, why
    child = (Path(__file__).parent / "_taskchampion_child.py").read_text()
    done = subprocess.run(
        [*command, "-c", child, str(tasks), str(updates), str(creates)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return None, f"failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout), ""


def _row(store: str, op: str, samples: list[float]) -> tuple[list[str], dict[str, float]]:
    head = statistics.median(samples[:200])
    tail = statistics.median(samples[-200:])
    row = [store, f"{op} x{len(samples)}", fmt_ms(head), fmt_ms(tail), f"{tail / head:.2f}x"]
    return row, {"first_ms": head * 1000, "last_ms": tail * 1000, "ratio": tail / head}


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    tasks, updates, creates = (1000, 400, 400) if quick else (10_000, 2000, 500)
    rows, results = [], {}
    runs = {"taskledger": ledger_runs(tasks, updates, creates)}
    peer, why = taskchampion_runs(tasks, updates, creates)
    if peer is not None:
        runs["taskchampion"] = peer
    runs["floor: fsynced append + 2 files replaced"] = floor_runs(tasks, updates)
    for store, by_op in runs.items():
        for op, samples in by_op.items():
            row, result = _row(f"{store} ({tasks:,} files)" if store.startswith("floor")
                               else f"{store} ({tasks:,} tasks)", op, samples)  # fmt: skip
            rows.append(row)
            results[f"{store.split(':')[0]}/{op}"] = result
    if peer is None:
        rows.append(["taskchampion", why, "-", "-", "-"])
    return rows, results


def main() -> None:
    part_main("long_lived", "A long-lived process", HEADER, run)


if __name__ == "__main__":
    main()
