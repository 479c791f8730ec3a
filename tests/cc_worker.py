"""One writer of a lock-step race (``test_claude_race.py``): a model Claude Code
session, or a taskledger session running commands in-process.

Usage: python -m tests.cc_worker PLAN.json

PLAN: ``{"kind": "model"|"ledger", "dir": barrier folder, "rounds": n, ...}``.
Round r starts when ``<dir>/go.<r>`` exists (every worker polls for it, so all
start within a few milliseconds of each other) and ends with the worker's
``<dir>/done.<r>.<name>`` holding what it did: for a model writer the tool's
``success``, for a ledger writer the command's exit code. Nothing here is
timed: a slow machine only makes the race slower.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.002)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    barrier = Path(plan["dir"])
    name = plan["name"]
    if plan["kind"] == "model":
        from tests.claude_code import ClaudeCode

        cc = ClaudeCode(Path(plan["config"]), plan["list"], plan["build"])

        def step(r: int) -> object:
            fields = {plan["field"]: f"{name} round {r}"}
            if plan.get("key"):
                fields["metadata"] = {plan["key"]: r}
            return cc.update(plan["task"], **fields)["success"]

    else:
        os.environ.update(plan["env"])
        from cli._main import cli

        def step(r: int) -> object:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    cli.main(args=["update", plan["task"], "--meta", f"{plan['key']}={r}"],
                             prog_name="taskledger", standalone_mode=True)  # fmt: skip
                except SystemExit as exc:
                    return exc.code or 0
            return 0

    (barrier / f"ready.{name}").write_text("")
    for r in range(plan["rounds"]):
        wait_for(barrier / f"go.{r}")
        result = step(r)
        temp = barrier / f".done.{r}.{name}"
        temp.write_text(json.dumps(result))
        temp.rename(barrier / f"done.{r}.{name}")


if __name__ == "__main__":
    main()
