"""Real taskledger processes racing on one list: nothing committed is lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import at_once, data_dir, tl

pytestmark = pytest.mark.slow

DESCRIPTION = "line one\nline two\nline three\nline four\n"


def show(home: Path, tid: str) -> dict[str, object]:
    data = json.loads(tl(home, "show", tid, "--json").stdout)
    assert isinstance(data, dict)
    return data


def test_fourteen_processes_change_one_task_at_the_same_moment(home: Path) -> None:
    tid = tl(home, "create", "contended", "-d", DESCRIPTION, session="setup").stdout.strip()
    blockers = [
        tl(home, "create", f"blocker {i}", session="setup").stdout.strip() for i in range(2)
    ]
    jobs = [
        ("s-subject", ["update", tid, "--subject", "renamed"]),
        ("s-status", ["update", tid, "--status", "in_progress"]),
        ("s-owner", ["update", tid, "--owner", "worker"]),
        ("s-active", ["update", tid, "--active-form", "Contending"]),
        ("s-line3", ["update", tid, "-d", DESCRIPTION.replace("line three", "LINE THREE")]),
        *[(f"s-meta{i}", ["update", tid, "--meta", f"key{i}=value{i}"]) for i in range(4)],
        *[(f"s-note{i}", ["note", tid, f"note {i}"]) for i in range(3)],
        *[(f"s-dep{i}", ["update", tid, "--add-blocked-by", b]) for i, b in enumerate(blockers)],
    ]
    assert len(jobs) == 14
    outcomes = at_once(home, jobs)
    for outcome in outcomes:
        assert outcome.returncode == 0, (outcome.args, outcome.stderr)
        assert "Traceback" not in outcome.stderr
    task = show(home, tid)
    expected = {
        "subject": "renamed",
        "status": "in_progress",
        "owner": "worker",
        "activeForm": "Contending",
        "description": "line one\nline two\nLINE THREE\nline four\n",
        "metadata": {f"key{i}": f"value{i}" for i in range(4)},
        "blockedBy": sorted(blockers),
    }
    got = {k: task[k] for k in expected}
    got["blockedBy"] = sorted(got["blockedBy"])  # type: ignore[type-var]
    assert got == expected
    assert sorted(n["text"] for n in task["notes"]) == ["note 0", "note 1", "note 2"]  # type: ignore[attr-defined]
    on_disk = json.loads((home / "main" / f"{tid}.json").read_text())
    for key in ("subject", "status", "owner", "activeForm", "description", "metadata"):
        assert on_disk[key] == expected[key], key
    assert sorted(on_disk["blockedBy"]) == sorted(blockers)
    assert tl(home, "verify").returncode == 0


def test_forty_concurrent_creates_from_eight_sessions(home: Path) -> None:
    jobs = [(f"session{s}", ["create", f"task {s}.{n}"]) for s in range(8) for n in range(5)]
    outcomes = at_once(home, jobs)
    ids = []
    for outcome in outcomes:
        assert outcome.returncode == 0, (outcome.args, outcome.stderr)
        ids.append(outcome.stdout.strip())
    assert len(set(ids)) == 40
    listed = json.loads(tl(home, "list", "--json").stdout)
    assert sorted(t["id"] for t in listed) == sorted(ids)
    assert sorted(t["subject"] for t in listed) == sorted(
        f"task {s}.{n}" for s in range(8) for n in range(5)
    )
    assert sorted(p.stem for p in (home / "main").glob("*.json")) == sorted(ids)
    # five processes per session shared one writer each, taking turns on its log
    logs = sorted(p.name.split(".")[0] for p in (data_dir(home) / "logs").iterdir())
    assert logs == [f"session{s}" for s in range(8)]
    assert tl(home, "verify").stdout.startswith("OK: 8 log(s), 40 record(s)")


def test_many_processes_of_one_session_never_reuse_a_clock(home: Path) -> None:
    tid = tl(home, "create", "one session, many processes", session="solo").stdout.strip()
    jobs = [("solo", ["update", tid, "--meta", f"k{i}={i}"]) for i in range(10)]
    jobs += [("solo", ["note", tid, f"n{i}"]) for i in range(4)]
    for outcome in at_once(home, jobs):
        assert outcome.returncode == 0, outcome.stderr
    task = show(home, tid)
    assert task["metadata"] == {f"k{i}": str(i) for i in range(10)}
    assert len(task["notes"]) == 4  # type: ignore[arg-type]
    verified = tl(home, "verify")
    assert verified.stdout.startswith("OK: 1 log(s), 15 record(s), 0 error(s)")


def test_files_end_equal_to_the_replay_after_racing_writers(home: Path) -> None:
    tids = [tl(home, "create", f"t{i}", session="setup").stdout.strip() for i in range(3)]
    jobs = [
        (f"w{i}", ["update", tids[i % 3], "--subject", f"subject from w{i}", "--meta", f"w{i}=1"])
        for i in range(12)
    ]
    for outcome in at_once(home, jobs):
        assert outcome.returncode == 0, outcome.stderr
    # no further command has run: the files left by the racing writers must be final
    on_disk = {p.stem: json.loads(p.read_text()) for p in (home / "main").glob("*.json")}
    shutil.rmtree(data_dir(home) / "cache")
    replayed = {t["id"]: t for t in json.loads(tl(home, "list", "--json").stdout)}
    assert set(on_disk) == set(replayed)
    for tid, data in on_disk.items():
        for key in ("subject", "status", "metadata", "blocks", "blockedBy"):
            assert data.get(key, {}) == replayed[tid][key], (tid, key)


# A long-lived library writer (as the MCP server is one): waits for a shared
# instant, then makes its updates, each setting a key no other update sets.
# With "die" it exits the moment its first op is on disk, before its task's
# file is written (a writer killed between its append and its file).
_WRITER = """
import os, sys, time
from ledger import Edits, Ledger
from ledger._view import View
home, session, start, ids, count, mode = sys.argv[1:]
ids = ids.split(",")
ledger = Ledger.open(home, "main", session)
ledger.seen()
if mode == "die":
    View.sync = lambda self, ids, state=None, own=True: os._exit(0)
time.sleep(max(0.0, float(start) - time.time()))
for n in range(int(count)):
    ledger.update(ids[n % len(ids)], Edits(set_meta={f"{session}-{n}": n}))
"""


def test_a_reader_after_many_writers_sees_every_op_and_every_file(home: Path) -> None:
    """No materializer runs: each writer writes only its own task's file (or, killed,
    not even that), and the first reader after them brings every file in line."""
    import subprocess
    import sys
    import time

    from tests.conftest import proc_env

    tids = [tl(home, "create", f"t{i}", session="setup").stdout.strip() for i in range(8)]
    tl(home, "update", tids[1], "--add-blocked-by", tids[0], session="setup")
    start = repr(time.time() + 2.0)
    racing = [(f"w{i}", ",".join(tids[i:] + tids[:i]), "12", "run") for i in range(6)]
    last = [(f"dead{i}", tids[i], "1", "die") for i in (2, 3, 4)]  # no one writes after them
    for group in (racing, last):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(home), session, start, ids, count, mode],
                env=proc_env(home),
                stderr=subprocess.PIPE,
                text=True,
            )
            for session, ids, count, mode in group
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    tl(home, "delete", tids[0], session="setup")  # its dependent's file changes with it
    writers = racing + last
    expected = {
        (ids.split(",")[n % len(ids.split(","))], f"{session}-{n}"): n
        for session, ids, count, _ in writers
        for n in range(int(count))
    }
    replayed = {t["id"]: t for t in json.loads(tl(home, "list", "--all", "--json").stdout)}
    present = {(tid, k): v for tid, t in replayed.items() for k, v in t["metadata"].items()}
    assert {k: present.get(k) for k in expected} == expected
    del replayed[tids[0]]
    on_disk = {p.stem: json.loads(p.read_text()) for p in (home / "main").glob("*.json")}
    assert set(on_disk) == set(replayed) == set(tids[1:])
    for tid, data in on_disk.items():
        for key in ("subject", "status", "metadata", "blocks", "blockedBy"):
            assert data.get(key, {}) == replayed[tid][key], (tid, key)
    assert on_disk[tids[1]]["blockedBy"] == []
