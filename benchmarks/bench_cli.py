"""CLI wall time of ``list``, ``show``, ``update``, ``create`` and ``ready`` by list size.

Run: ``python -m benchmarks.bench_cli`` (``--quick``: 1k and 10k tasks only).
Each timing is the median wall time of fresh ``taskledger`` processes (the
installed console script), interleaved round by round with the two floors
measured in the same run: bare ``python -c pass`` and a hello-world click
command. *Warm (served)* is what a user gets by default: the command is
handed to this user's local server (``cli/_server.py``, started by the first
command; the timing is still the whole ``taskledger`` process); *warm (own
process)* runs it in its own process (``TASKLEDGER_SERVER=off``), finding a
fresh derived cache; *cold* runs in its own process and finds no cache (the
cache folder is deleted before each, so the command replays every log, then
writes the cache again). Lists are built with ``benchmarks._fixtures.bulk``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import (  # noqa: E402
    HELLO_CLICK,
    bulk,
    cli_env,
    print_table,
    scratch,
    stop_servers,
    write_results,
)
from ledger import Layout  # noqa: E402

LIST_ID = "bench"
COMMANDS = ("list", "show", "update", "create", "ready")


def taskledger() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m cli``."""
    script = Path(sys.executable).parent / "taskledger"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def argv_for(command: str, task: str, n: int) -> list[str]:
    if command == "show":
        return [*taskledger(), "show", task]
    if command == "update":
        return [*taskledger(), "update", task, "--subject", f"renamed {n}"]
    if command == "create":
        return [*taskledger(), "create", f"new task {n}"]
    return [*taskledger(), command]


def wall(argv: list[str], env: dict[str, str] | None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def measure(home: Path, runs: int, cold_runs: int, runtime: Path) -> dict[str, Any]:
    """Warm medians of every command, served and in its own process, cold medians, and
    the floors, on one list."""
    env = cli_env(home, LIST_ID)
    served = cli_env(home, LIST_ID, runtime=runtime)
    first = time.perf_counter()
    subprocess.run([*taskledger(), "list"], env=env, check=True, capture_output=True)
    first_s = time.perf_counter() - first
    out = subprocess.run(
        [*taskledger(), "list", "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    task = out.split('"id": "', 1)[1][:16]
    start_server(served)
    floors = {"pass": [sys.executable, "-c", "pass"], "hello": [sys.executable, "-c", HELLO_CLICK]}
    samples: dict[str, list[float]] = {k: [] for k in [*floors, *COMMANDS]}
    own: dict[str, list[float]] = {c: [] for c in COMMANDS}
    for n in range(runs):
        for name, argv in floors.items():
            samples[name].append(wall(argv, None))
        for command in COMMANDS:
            samples[command].append(wall(argv_for(command, task, n), served))
            own[command].append(wall(argv_for(command, task, n), env))
    stop_servers(runtime)
    cache = Layout.of(home, LIST_ID).root / "cache"
    cold: dict[str, list[float]] = {c: [] for c in COMMANDS}
    for n in range(cold_runs):
        for command in COMMANDS:
            shutil.rmtree(cache, ignore_errors=True)
            cold[command].append(wall(argv_for(command, task, runs + n), env))
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "first_list_s": first_s,
        "warm_s": {c: med[c] for c in COMMANDS},
        "own_process_s": {c: statistics.median(v) for c, v in own.items()},
        "cold_s": {c: statistics.median(v) for c, v in cold.items()},
        "floor_s": {"python -c pass": med["pass"], "hello-world click": med["hello"]},
        "runs": runs,
        "cold_runs": cold_runs,
    }


def start_server(env: dict[str, str]) -> None:
    """Have a served command start the local server, and wait until it serves."""
    probe = [*taskledger(), "show", "0000"]
    subprocess.run(probe, env=env, capture_output=True)  # (starts it)
    deadline = time.monotonic() + 120
    required = {**env, "TASKLEDGER_SERVER": "require"}
    while (
        "no taskledger server"
        in subprocess.run(probe, env=required, capture_output=True, text=True).stderr
    ):
        if time.monotonic() > deadline:
            raise SystemExit("the local server did not start")
        time.sleep(0.1)


def run(quick: bool = False, runs: int = 11) -> tuple[list[list[str]], dict[str, Any]]:
    """Every size; return table rows and raw results."""
    sizes = [1000, 10_000] if quick else [1000, 10_000, 100_000]
    results: dict[str, Any] = {}
    rows: list[list[str]] = []
    runtime = Path(tempfile.mkdtemp(prefix="tl-rt-", dir="/tmp"))  # (a socket path is short)
    try:
        with scratch("tl-cli-") as tmp:
            for size in sizes:
                home = tmp / f"n{size}"
                bulk(home, LIST_ID, size)
                big = size >= 100_000
                r = measure(home, runs=5 if big else runs, cold_runs=1 if big else 3,
                            runtime=runtime)  # fmt: skip
                results[str(size)] = r
                hello = r["floor_s"]["hello-world click"]
                for command in COMMANDS:
                    warm, alone = r["warm_s"][command], r["own_process_s"][command]
                    rows.append([
                        f"{size:,}", command, ms(warm), f"{warm / hello:.2f}x", ms(alone),
                        f"{alone / hello:.2f}x", ms(r["cold_s"][command]), ms(hello),
                        ms(r["floor_s"]["python -c pass"]),
                    ])  # fmt: skip
                shutil.rmtree(home)
    finally:
        stop_servers(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
    return rows, results


HEADER = [
    "tasks", "command", "warm (served)", "/ hello", "warm (own process)", "/ hello",
    "cold (own, no cache)", "hello click", "pass",
]  # fmt: skip


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k tasks only")
    parser.add_argument("--runs", type=int, default=11, help="warm runs per command")
    args = parser.parse_args()
    rows, results = run(args.quick, args.runs)
    print_table("CLI wall time (median of fresh processes)", HEADER, rows)
    write_results("cli", results)


if __name__ == "__main__":
    main()
