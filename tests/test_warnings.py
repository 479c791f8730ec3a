"""One damaged line is reported the same way, once, by every command (issue 14):
``list``, ``history``, ``note`` and ``verify`` all read logs through the one
reader (``_log.classify``)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from ledger._log import digest
from tests.conftest import Run, data_dir

DAMAGE = ["not JSON", "unknown format version 99", "pycrdt rejected the update"]


def damaged(run: Run, home: Path, kind: str) -> tuple[str, int, str]:
    """A list with one damaged line in alice's log; returns (log, line, tid)."""
    tid = run("create", "x", session="alice").stdout.strip()
    run("note", tid, "one", session="alice")
    (log,) = (data_dir(home) / "logs").glob("alice.*.jsonl")
    lines = log.read_bytes().splitlines()
    if kind == "not JSON":
        bad = b"{this is not json"
    else:
        record = json.loads(lines[-1])
        if kind.startswith("unknown"):
            record["v"] = 99
        else:
            junk = base64.b64encode(b"\x07junk").decode()  # well-formed, but no pycrdt update
            record["updates"] = dict.fromkeys(record["updates"], junk)
            record["seq"] += 1
            record["hlc"] = [record["hlc"][0] + 1, 0]
            record["prev"] = digest(lines[-1])
        bad = json.dumps(record, separators=(",", ":")).encode()
    log.write_bytes(b"".join(x + b"\n" for x in [*lines, bad]))
    return log.name, len(lines) + 1, tid


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("command", ["list", "history", "note", "verify"])
def test_one_damaged_line_one_warning_everywhere(
    run: Run, home: Path, command: str, kind: str
) -> None:
    name, line, tid = damaged(run, home, kind)
    args = {"list": ("list",), "history": ("history",), "note": ("note", tid, "two"),
            "verify": ("verify",)}[command]  # fmt: skip
    result = run(*args, session="bob")
    where = f"{name}:{line}"
    said = [ln for ln in (result.stdout + result.stderr).splitlines() if where in ln]
    assert len(said) == 1, (command, said, result.output)
    assert kind in said[0], said
    if command == "verify":
        assert result.exit_code == 1 and re.search(rf"{re.escape(where)}: error: .*{kind}", said[0])
    else:
        assert result.exit_code == 0
        assert said[0].startswith(f"warning: {where}: {kind}"), said
        assert said[0].endswith(", skipped"), said
    again = run(*args, session="bob")  # the cache reads past it now: said again, once
    assert sum(where in ln for ln in (again.stdout + again.stderr).splitlines()) <= 1
