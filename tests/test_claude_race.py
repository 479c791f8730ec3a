"""Four model Claude Code sessions and four taskledger sessions race on one task,
each on its own field or metadata key, for 20 rounds (issue 13): nothing that
landed is lost, every change is in ``history``, ``verify`` is clean.

The rounds are lock-step: every writer starts a round the moment the test
opens it, and the next opens once all have finished and one reader has read
the list -- so a change Claude Code made is in a file some taskledger process
reads before its writer changes it again. Without hooks that read is the only
way taskledger learns of a change (docs/claude-code.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.claude_code import NEW, OLD
from tests.conftest import ROOT, Run, proc_env

ROUNDS = 20
FIELDS = ["subject", "activeForm", "owner", "description"]


@pytest.mark.slow
@pytest.mark.parametrize("build", [OLD, NEW])
def test_model_sessions_and_taskledger_sessions_race_on_one_task(
    tmp_path: Path, build: str
) -> None:
    config = tmp_path / "claude"
    home = config / "tasks"
    home.mkdir(parents=True)
    run = Run(home, CliRunner())
    task = run("create", "contested", session="planner").stdout.strip()
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    plans: list[dict[str, Any]] = []
    for w, field in enumerate(FIELDS):
        # 2.1.112 merges metadata from a read taken before its lock, so two of its
        # own sessions can drop each other's keys: its writers change fields only there
        plans.append({"kind": "model", "name": f"cc{w}", "config": str(config), "list": "main",
                      "build": build, "task": task, "field": field,
                      "key": f"cc{w}" if build == NEW else None})  # fmt: skip
    for w in range(4):
        env = {"TASKLEDGER_HOME": str(home), "TASKLEDGER_LIST": "main",
               "TASKLEDGER_SESSION": f"tl{w}"}  # fmt: skip
        plans.append(
            {"kind": "ledger", "name": f"tl{w}", "task": task, "key": f"tl{w}", "env": env}
        )
    procs = []
    for plan in plans:
        plan.update(dir=str(barrier), rounds=ROUNDS)
        path = tmp_path / f"{plan['name']}.json"
        path.write_text(json.dumps(plan))
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.cc_worker", str(path)],
                                      cwd=ROOT, env=proc_env(home, PYTHONPATH=str(ROOT)),
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    names = [p["name"] for p in plans]

    def wait(prefix: str) -> None:
        deadline = time.monotonic() + 300
        while not all((barrier / f"{prefix}{n}").exists() for n in names):
            assert time.monotonic() < deadline, f"workers stuck at {prefix}"
            assert all(p.poll() in (None, 0) for p in procs), [
                p.stderr.read() for p in procs if p.poll()
            ]  # type: ignore[union-attr]
            time.sleep(0.005)

    wait("ready.")
    done: dict[str, list[object]] = {n: [] for n in names}
    for r in range(ROUNDS):
        (barrier / f"go.{r}").write_text("")
        wait(f"done.{r}.")
        for n in names:
            done[n].append(json.loads((barrier / f"done.{r}.{n}").read_text()))
        assert run("list", session="reader").exit_code == 0  # someone reads the list
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    shown = run.json("show", task)
    ops = [json.loads(x) for x in run("history", "--json").stdout.splitlines()]
    for w, field in enumerate(FIELDS):
        landed = [r for r, ok in enumerate(done[f"cc{w}"]) if ok is True]
        assert landed, f"cc{w} never landed a write"
        assert shown[field] == f"cc{w} round {landed[-1]}"  # type: ignore[index]
        for r in landed:  # every change is in history
            assert any(o["fields"].get(field, {}).get("new") == f"cc{w} round {r}" for o in ops), (
                w,
                r,
            )
        if build == NEW:
            assert shown["metadata"][f"cc{w}"] == landed[-1]  # type: ignore[index]
            for r in landed:
                assert any(
                    o["fields"].get("metadata", {}).get(f"cc{w}", {}).get("new") == r for o in ops
                )
    for w in range(4):
        committed = [r for r, code in enumerate(done[f"tl{w}"]) if code == 0]
        assert len(committed) == ROUNDS, done[f"tl{w}"]
        assert shown["metadata"][f"tl{w}"] == str(ROUNDS - 1)  # type: ignore[index]
        mine = [o for o in ops if o["session"] == f"tl{w}"]
        assert [o["fields"]["metadata"][f"tl{w}"]["new"] for o in mine] == [
            str(r) for r in range(ROUNDS)
        ]
    assert run("verify").exit_code == 0
