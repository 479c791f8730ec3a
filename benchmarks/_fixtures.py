"""Build big ledgers fast, and time commands: shared by the benchmark scripts.

``bulk`` writes records exactly as the library does (the same ``write_op``
on the same shard documents, the same record encoding, the same hash chain),
but as one writer in one process without replaying between ops, so 100k ops
take seconds, not hours.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ledger import Layout
from ledger._append import Appender
from ledger._doc import Shard, write_op
from ledger._ids import log_name, new_task_id
from ledger._layout import data_root_for
from ledger._log import GENESIS, Record, digest, encode_record
from ledger._model import Change, Hlc, Op, OpKind, Stamp
from ledger._timeparse import iso_ms

BULK_START_MS = 1_700_000_000_000  # in the past: records from the future would not move clocks


def bulk(
    home: Path, list_id: str, tasks: int, updates_per_task: int = 0, session: str = "bulk"
) -> int:
    """Append ``tasks`` creates and ``updates_per_task`` updates each; return the op count."""
    writer = f"{0xB0000000000 + tasks:013x}"
    layout = Layout.of(home, list_id)
    docs: dict[str, Shard] = {}

    def doc_of(shard: str) -> Shard:
        found = docs.get(shard)
        if found is None:
            found = docs[shard] = Shard(int(writer, 16))
        return found

    hlc = Hlc(BULK_START_MS)
    prev = GENESIS
    seq = 0
    ops = 0
    ids: list[str] = []
    logs = layout.open("logs", create=True)
    assert logs is not None
    with logs, Appender(logs, log_name(session, writer)) as appender:

        def append(op: Op) -> None:
            nonlocal hlc, prev, seq, ops
            seq += 1
            hlc = hlc.tick(hlc.ms + 1)
            stamp = Stamp(hlc, session, writer, seq, hlc.ms)
            updates, clocks, _ = write_op(doc_of, op, stamp)
            record = Record(
                session, writer, seq, hlc, iso_ms(hlc.ms), op.kind.value, op.task,
                op.to_readable(),
                {s: base64.b64encode(u).decode() for s, u in updates.items()},
                clocks, prev,
            )  # fmt: skip
            line = encode_record(record)
            appender.append_unsynced(line)
            prev = digest(line)
            ops += 1

        for n in range(tasks):
            tid = new_task_id(writer, seq + 1)
            ids.append(tid)
            append(
                Op(
                    OpKind.CREATE,
                    tid,
                    fields=(
                        ("subject", Change(None, f"task {n}")),
                        ("status", Change(None, "pending")),
                    ),
                    description=Change(None, f"Description of task {n}.\nSecond line.\n"),
                )
            )
        for round_ in range(updates_per_task):
            for tid in ids:
                status = "in_progress" if round_ % 2 == 0 else "pending"
                append(
                    Op(
                        OpKind.UPDATE,
                        tid,
                        fields=(("status", Change(None, status)),),
                        metadata=(("round", Change(None, round_)),),
                    )
                )
        appender.sync()
    return ops


def timed(argv: Sequence[str], env: dict[str, str] | None = None, runs: int = 5) -> float:
    """Median wall seconds of running a command ``runs`` times."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed_call(fn: Callable[[], object], runs: int = 5) -> float:
    """Median wall seconds of calling ``fn``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


HELLO_CLICK = """
import click

@click.command()
def hello():
    click.echo("hello")

hello()
"""


def baselines(runs: int = 10) -> dict[str, float]:
    """Bare interpreter start and a hello-world click command, measured now."""
    return {
        "python -c pass": timed([sys.executable, "-c", "pass"], runs=runs),
        "hello-world click": timed([sys.executable, "-c", HELLO_CLICK], runs=runs),
    }


def cli_env(
    home: Path, list_id: str, session: str = "bench", runtime: Path | None = None
) -> dict[str, str]:
    """Environment for a taskledger process on ``home``: run in its own process, or, given
    a ``runtime`` folder, handed to the local server there (``cli/_client.py``)."""
    env = dict(os.environ)
    env.update(
        {"TASKLEDGER_HOME": str(home), "TASKLEDGER_LIST": list_id, "TASKLEDGER_SESSION": session}
    )
    if runtime is None:
        env["TASKLEDGER_SERVER"] = "off"
    else:
        env.update({"TASKLEDGER_SERVER": "auto", "TASKLEDGER_RUNTIME_DIR": str(runtime)})
    return env


def stop_servers(runtime: Path) -> None:
    """Stop the local servers started in ``runtime`` (their pids are in the lock files)."""
    import signal

    for lock in runtime.glob("*.lock"):
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(lock.read_text().strip()), signal.SIGTERM)


def fmt_ms(seconds: float) -> str:
    """Seconds as milliseconds with one decimal."""
    return f"{seconds * 1000:.1f} ms"


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed afterwards (with the data folder beside it, when
    the folder itself was used as a home: a 10k list leaves 10k files there)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(data_root_for(root), ignore_errors=True)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print an aligned table: first column left, the others right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = (str(c) for c in cells)
        parts = [first.ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(rest, widths[1:], strict=False)
        ]
        return "  " + "  ".join(parts)

    print(f"\n{title}")
    print(line(header))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    sys.stdout.flush()


def write_results(name: str, data: object) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine it ran on."""
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    payload = {"machine": machine(), "results": data}
    path.write_text(json.dumps(payload, indent=2))
    return path


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def part_main(
    name: str, title: str, header: Sequence[str],
    run: Callable[[bool], tuple[list[list[str]], object]], quick: str = "smaller sizes",
) -> None:  # fmt: skip
    """A part's script entry point: ``--quick``, run, print the table, write its JSON."""
    import argparse

    parser = argparse.ArgumentParser(description=f"taskledger benchmark: {title}")
    parser.add_argument("--quick", action="store_true", help=quick)
    rows, results = run(parser.parse_args().quick)
    print_table(title, header, rows)
    write_results(name, results)


def line_arrivals(stream: IO[str]) -> queue.Queue[tuple[float, str]]:
    """Each line a process prints, with the wall time it arrived (read by a thread)."""
    arrivals: queue.Queue[tuple[float, str]] = queue.Queue()

    def pump() -> None:
        for line in stream:
            arrivals.put((time.time(), line))

    threading.Thread(target=pump, daemon=True).start()
    return arrivals


def arrivals_of(
    arrivals: queue.Queue[tuple[float, str]], key_of: Callable[[dict[str, Any]], object],
    wanted: Collection[object], timeout_s: float = 30.0,
) -> dict[object, float]:  # fmt: skip
    """When each wanted key showed up in a JSON-lines stream (``key_of`` reads a line's key)."""
    seen: dict[object, float] = {}
    deadline = time.time() + timeout_s
    while len(seen) < len(wanted) and time.time() < deadline:
        try:
            at, line = arrivals.get(timeout=1)
        except queue.Empty:
            continue
        key = key_of(json.loads(line))
        if key in wanted:
            seen[key] = at
    return seen
