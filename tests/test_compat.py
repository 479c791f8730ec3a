"""A list written by taskledger before the data root existed (``tests/fixtures/legacy_v1``,
made by commit a27b36a: logs and writers in ``<home>/<list>/.ledger/``, task ids
that may start with a digit) reads exactly as that version read it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.conftest import Run, data_dir

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "legacy_v1"


def same(expected: Any, got: Any) -> None:
    """Every key the old version printed has the same value now (new keys may be added)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict), got
        for key, value in expected.items():
            assert key in got, key
            same(value, got[key])
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), (expected, got)
        for a, b in zip(expected, got, strict=True):
            same(a, b)
    else:
        assert expected == got, (expected, got)


def test_a_list_from_before_the_data_root_reads_identically(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE / "home", home)
    files = {p.name: p.read_bytes() for p in (home / "legacy").glob("*.json")}
    run = Run(home, CliRunner())
    listed = run("list", "--all", "--json", list_id="legacy")
    assert listed.exit_code == 0, listed.output
    assert "moved this list's ledger" in listed.stderr  # adopted, and it says so
    same(json.loads((FIXTURE / "expected" / "list.json").read_text()), json.loads(listed.stdout))
    for path in sorted((FIXTURE / "expected").glob("show.*.json")):
        task_id = path.name.split(".")[1]
        same(json.loads(path.read_text()), run.json("show", task_id, list_id="legacy"))
    history = run("history", "--json", list_id="legacy").stdout.splitlines()
    expected = (FIXTURE / "expected" / "history.jsonl").read_text().splitlines()
    same([json.loads(x) for x in expected], [json.loads(x) for x in history])
    same(json.loads((FIXTURE / "expected" / "conflicts.json").read_text()),
         run.json("conflicts", list_id="legacy"))  # fmt: skip
    # the logs moved to the data root, byte for byte; the task files were left as they were
    for log in (FIXTURE / "home" / "legacy" / ".ledger" / "logs").iterdir():
        assert (data_dir(home, "legacy") / "logs" / log.name).read_bytes() == log.read_bytes()
    assert {p.name: p.read_bytes() for p in (home / "legacy").glob("*.json")} == files
    assert run("verify", list_id="legacy").exit_code == 0
    # a task id that starts with a digit stays addressable, and writes go on
    digit = next(t for t in json.loads(listed.stdout) if t["id"][0].isdigit())
    assert run("note", digit["id"][:4], "after the move", list_id="legacy").exit_code == 0
    assert run.json("show", digit["id"], list_id="legacy")["notes"][-1]["text"] == "after the move"  # type: ignore[index]
