"""Core costs: appends, CLI create/list by list size, bytes per op, full replay.

Run: ``python benchmarks/bench_core.py`` (add ``--quick`` for a smaller run).
Prints a table and writes ``benchmarks/results/core.json``. Every CLI timing
is the median of several runs of a fresh ``taskledger`` process; a bare
``python -c pass`` and a hello-world click command are measured in the same
run as the floor to compare against.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fixtures import baselines, bulk, cli_env, fmt_ms, timed, timed_call
from ledger import Layout, Ledger, Replayer

TASKLEDGER = [sys.executable, "-m", "cli"]


def log_bytes(home: Path, list_id: str) -> int:
    return sum(p.stat().st_size for p in Layout.of(home, list_id).logs.glob("*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes up to 1k, 10k-op replay")
    parser.add_argument("--runs", type=int, default=5, help="runs per CLI timing")
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [100, 1000, 10_000]
    replay_tasks, replay_updates = (1000, 9) if args.quick else (10_000, 9)
    root = Path(tempfile.mkdtemp(prefix="tl-bench-"))
    results: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    rows: list[tuple[str, str]] = []
    try:
        base = baselines(runs=args.runs * 2)
        results["baselines"] = base
        for name, secs in base.items():
            rows.append((name, fmt_ms(secs)))
        per_size = {}
        for n in sizes:
            home = root / f"n{n}"
            bulk(home, "bench", n)
            env = cli_env(home, "bench")
            start = time.perf_counter()
            subprocess_run(env, "list")
            first = time.perf_counter() - start
            warm_list = timed([*TASKLEDGER, "list"], env=env, runs=args.runs)
            warm_show = timed([*TASKLEDGER, "show", first_id(home)], env=env, runs=args.runs)
            create = timed([*TASKLEDGER, "create", "benchmarked"], env=env, runs=args.runs)
            ledger = Ledger.open(home, "bench", "lib")
            target = first_id(home)
            ledger.note(target, "warm up")
            append = timed_call(partial(ledger.note, target, "a note"), runs=args.runs)
            per_size[n] = {
                "first_list_s": first,
                "list_s": warm_list,
                "show_s": warm_show,
                "create_s": create,
                "library_append_s": append,
            }
            rows += [
                (f"{n:>6} tasks: first list (replay + write {n} files)", fmt_ms(first)),
                (f"{n:>6} tasks: list (warm)", fmt_ms(warm_list)),
                (f"{n:>6} tasks: show (warm)", fmt_ms(warm_show)),
                (f"{n:>6} tasks: create (CLI)", fmt_ms(create)),
                (f"{n:>6} tasks: library append (Ledger.note)", fmt_ms(append)),
            ]
            shutil.rmtree(home)
        results["sizes"] = per_size
        home = root / "replay"
        ops = bulk(home, "bench", replay_tasks, replay_updates)
        size = log_bytes(home, "bench")
        logs = Layout.of(home, "bench").logs

        def replay() -> None:
            replayer = Replayer(logs)
            replayer.catch_up()
            replayer.state()

        replay_s = timed_call(replay, runs=3)
        results["replay"] = {"ops": ops, "seconds": replay_s, "bytes": size}
        rows += [
            (f"full replay of {ops:,} ops ({replay_tasks:,} tasks)", f"{replay_s:.2f} s"),
            ("bytes on disk per op (log)", f"{size / ops:.0f} B"),
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"taskledger core benchmark - {results['platform']}, Python {results['python']}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value:>10}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "core.json").write_text(json.dumps(results, indent=2))


def subprocess_run(env: dict[str, str], *args: str) -> None:
    import subprocess

    subprocess.run([*TASKLEDGER, *args], env=env, check=True, capture_output=True)


def first_id(home: Path) -> str:
    ledger = Ledger.open(home, "bench", "reader")
    return ledger.tasks()[0].id


if __name__ == "__main__":
    main()
