"""A real taskledger process that runs commands at given instants (for race tests).

Usage: python -m tests.racer PLAN.json OUT.json

PLAN is ``{"session": str, "env": {...}, "steps": [[start_epoch_s, [argv...]], ...]}``.
The process imports everything once, then for each step sleeps until its
start instant and runs the ``taskledger`` command line in-process, exactly as
the console script would (same entry point, same exit codes). OUT receives
``[[exit_code, stdout, stderr, seconds], ...]``. Also run as a script by
``benchmarks/bench_claims.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

import ledger._doc  # noqa: F401  (import cost paid before the race)
from cli._main import cli


def run(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args=argv, prog_name="taskledger", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - start


def main() -> None:
    with open(sys.argv[1]) as fh:
        plan = json.loads(fh.read())
    os.environ.update(plan["env"])
    os.environ["TASKLEDGER_SESSION"] = plan["session"]
    results = []
    for start, argv in plan["steps"]:
        time.sleep(max(0.0, start - time.time()))
        results.append(run(argv))
    with open(sys.argv[2], "w") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
