"""Hostile records and files (issue 12): forged logs, clocks at the limit, shared
writer ids, deep nesting, NaN, time travel under skew, and small promises of
the human output. Terminal bytes, planted symlinks and FIFOs are in
``test_hostile_fs.py`` and ``test_terminal.py``."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from ledger import Edits, Layout, Ledger, Replayer
from ledger._log import GENESIS, digest
from ledger._model import MAX_COUNTER, MAX_HLC_MS
from tests.conftest import Run, data_dir
from tests.replicas import Clock, Replica


def strict(text: str) -> Any:
    """Parse JSON the way strict parsers do: NaN and Infinity are errors."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def chained(recs: list[dict[str, Any]], raw: dict[str, str] | None = None, **dump: Any) -> bytes:
    """Lines of records with a valid hash chain, as a writer of its own log makes them.

    ``raw`` maps a string value to JSON text put in its place (a value too deep
    for this process's own encoder, whatever the depth of the test's stack).
    """
    prev, out = GENESIS, []
    for rec in recs:
        rec["prev"] = prev
        text = json.dumps(rec, separators=(",", ":"), ensure_ascii=False, **dump)
        for placeholder, json_text in (raw or {}).items():
            text = text.replace(json.dumps(placeholder), json_text)
        line = text.encode()
        prev = digest(line)
        out.append(line)
    return b"".join(line + b"\n" for line in out)


def hostile_log(
    tmp_path: Path, session: str, *subjects: str, clock: int = 1_800_000_000_000
) -> Path:
    """A real log of ``session`` creating tasks on a replica of its own (copy it anywhere)."""
    evil = Replica(tmp_path / f"evil-{session}", session, Clock(clock))
    ledger = evil.ledger
    for subject in subjects:
        ledger.create(Edits(subject=subject))
    (log,) = evil.own_logs()
    return log


def plant(home: Path, name: str, data: bytes) -> Path:
    logs = data_dir(home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / name
    path.write_bytes(data)
    return path


def subjects(run: Run) -> list[str]:
    return sorted(t["subject"] for t in run.json("list"))  # type: ignore[union-attr,index]


def fresh_state(home: Path, order: list[str] | None = None) -> dict[str, Any]:
    """The state a reader with no cache computes, reading logs in a given order."""
    layout = Layout.of(home, "main")
    replayer = Replayer(layout.logs, trusted=layout.data)
    replayer.catch_up(order=order)
    state = replayer.state()
    return {
        t.id: (t.subject, t.status, t.deleted, [n.text for n in t.notes])
        for t in state.tasks.values()
    }


def cached_state(run: Run) -> dict[str, Any]:
    out = {}
    for t in run.json("list", "--all"):  # type: ignore[union-attr]
        shown = run.json("show", t["id"])  # type: ignore[index]
        out[shown["id"]] = (  # type: ignore[index]
            shown["subject"],  # type: ignore[index]
            shown["status"],  # type: ignore[index]
            shown["deleted"],  # type: ignore[index]
            [n["text"] for n in shown["notes"]],  # type: ignore[index]
        )
    return out


# ---------------------------------------------------------- 4: the clock limit


def test_a_record_at_the_clock_limit_never_costs_a_later_write(
    run: Run, home: Path, tmp_path: Path
) -> None:
    tid = run("create", "real").stdout.strip()
    log = hostile_log(tmp_path, "mallory", "from the future", clock=MAX_HLC_MS - 10)
    (rec,) = records(log)
    rec["hlc"] = [MAX_HLC_MS - 1, MAX_COUNTER - 1]  # the largest a reader accepts
    plant(home, log.name, chained([rec]))
    for args in (
        ("note", tid, "after"),
        ("update", tid, "--subject", "renamed"),
        ("create", "new"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
    shown = run.json("show", tid)
    assert shown["subject"] == "renamed"  # type: ignore[index]
    assert [n["text"] for n in shown["notes"]] == ["after"]  # type: ignore[index]
    assert subjects(run) == ["from the future", "new", "renamed"]
    limit = (time.time() + 86_400) * 1000
    mine = [
        o
        for o in map(json.loads, run("history", "--json").stdout.splitlines())
        if o["session"] == "tester"
    ]
    assert len(mine) == 4 and all(o["hlc"][0] < limit for o in mine)  # the clock stayed here
    report = run("verify")
    assert "ahead of this clock" in report.output


def test_a_writer_whose_own_clock_ran_ahead_continues_with_a_new_writer(
    run: Run, home: Path
) -> None:
    tid = run("create", "x").stdout.strip()
    ahead = Ledger.open(home, "main", "tester", clock=lambda: MAX_HLC_MS - 1)
    ahead.note(tid, "from a broken clock")
    result = run("note", tid, "now")  # the same session, a sane clock
    assert result.exit_code == 0, result.output
    assert "new writer" in result.stderr
    notes = [n["text"] for n in run.json("show", tid)["notes"]]  # type: ignore[index]
    assert sorted(notes) == ["from a broken clock", "now"]


# ------------------------------------------------------ 5: one writer, two logs


def forge_same_writer(home: Path, tmp_path: Path, victim_log: Path) -> Path:
    """A log of session mallory that claims the victim's writer id (its own records)."""
    writer = victim_log.name.split(".")[-2]
    evil = Replica(tmp_path / "evil", "mallory")
    markers = Layout.of(evil.home, "main").root / "writers"
    markers.mkdir(parents=True)
    from ledger._layout import machine_id

    (markers / "mallory").write_text(f"{writer} {machine_id()}\n")
    ledger = evil.ledger
    ledger.create(Edits(subject="forged one"))
    ledger.create(Edits(subject="forged two"))
    (log,) = evil.own_logs()
    assert log.name == f"mallory.{writer}.jsonl"
    return plant(home, log.name, log.read_bytes())


def test_two_logs_with_one_writer_id_converge_whatever_the_order(
    run: Run, home: Path, tmp_path: Path
) -> None:
    a = run("create", "alice one", session="alice").stdout.strip()
    run("create", "bob one", session="bob")
    run("note", a, "by alice", session="alice")
    before = cached_state(run)  # a long-lived reader too, built before the forgery
    watcher = Ledger.open(home, "main", "watcher")
    assert len(watcher.state().tasks) == 2
    (alice_log,) = (data_dir(home) / "logs").glob("alice.*.jsonl")
    forged = forge_same_writer(home, tmp_path, alice_log)
    names = sorted(p.name for p in (data_dir(home) / "logs").iterdir())
    fresh = fresh_state(home)
    assert fresh_state(home, list(reversed(names))) == fresh
    assert cached_state(run) == fresh  # the cache read before the forgery did not stick
    assert {t.id for t in watcher.state().tasks.values()} == set(fresh)
    # the two logs disagree from seq 1: neither's records apply (only bob's task is left)
    assert sorted(s for s, *_ in fresh.values()) == ["bob one"]
    assert set(before) > set(fresh)
    # alice's session goes on with a new writer of its own; nothing it commits now is lost
    result = run("create", "alice two", session="alice")
    assert result.exit_code == 0, result.output
    assert "new writer" in result.stderr
    assert sorted(s for s, *_ in cached_state(run).values()) == ["alice two", "bob one"]
    assert cached_state(run) == fresh_state(home)
    report = run("verify")
    assert report.exit_code == 1
    assert forged.name in report.output and alice_log.name in report.output
    # remove the forgery and every op of alice's first writer is back
    forged.unlink()
    assert sorted(s for s, *_ in cached_state(run).values()) == [
        "alice one",
        "alice two",
        "bob one",
    ]
    assert cached_state(run) == fresh_state(home)


def test_a_copy_of_a_log_under_another_name_changes_nothing(run: Run, home: Path) -> None:
    a = run("create", "alice one", session="alice").stdout.strip()
    run("note", a, "kept", session="alice")
    before = cached_state(run)
    (alice_log,) = (data_dir(home) / "logs").glob("alice.*.jsonl")
    copy = alice_log.with_name("backup." + alice_log.name.split(".", 1)[1])
    shutil.copyfile(alice_log, copy)
    assert cached_state(run) == before == fresh_state(home)
    assert run("note", a, "more", session="alice").exit_code == 0
    assert cached_state(run) == fresh_state(home)
    assert [n for *_, n in cached_state(run).values()] == [["kept", "more"]]


# ------------------------------------------------------------ 6, 7: strict JSON


def test_deep_nesting_and_nan_in_records_are_skipped_with_one_warning(
    run: Run, home: Path, tmp_path: Path
) -> None:
    tid = run("create", "survivor").stdout.strip()
    log = hostile_log(tmp_path, "mallory", "deep", "nan", "fine")
    deep, nan, fine = records(log)
    deep["fields"]["metadata"] = {"k": {"new": "@deep@"}}
    nan["fields"]["subject"] = {"new": float("nan")}
    fine["fields"]["subject"]["new"] = "fine"
    plant(home, log.name, chained([deep, nan, fine], raw={"@deep@": "[" * 950 + "]" * 950}))
    for _ in range(2):
        result = run("list")
        assert result.exit_code == 0
        assert "Traceback" not in result.output
    # both bad lines are reported once; the records after them wait behind the gap
    warned = run("list").stderr
    for args in (("show", tid), ("history",), ("note", tid, "x"), ("verify",), ("export",)):
        result = run(*args)
        assert result.exit_code in (0, 1), (args, result.output)
        assert "RecursionError" not in result.output and "Traceback" not in result.output
    del warned
    fresh = run("list", "--json")
    assert "NaN" not in fresh.stdout
    assert [t["subject"] for t in strict(fresh.stdout)] == ["survivor"]
    report = run("verify")
    assert report.exit_code == 1
    assert f"{log.name}:1" in report.output and f"{log.name}:2" in report.output


def test_metadata_too_deep_or_not_finite_is_refused_at_the_door(run: Run, home: Path) -> None:
    tid = run("create", "x").stdout.strip()
    ledger = Ledger.open(home, "main", "lib")
    deep: Any = "leaf"
    for _ in range(2000):
        deep = [deep]
    from ledger import InvalidValue

    for bad in (deep, float("nan"), float("inf"), {"a": [1, float("-inf")]}):
        with pytest.raises(InvalidValue):
            ledger.update(tid, Edits(set_meta={"k": bad}))
    with pytest.raises(InvalidValue):
        ledger.create(Edits(subject="y", set_meta={"k": deep}))
    assert run("history", "--json").stdout.count("\n") == 1  # nothing was recorded
    # the CLI takes metadata values as strings: "NaN" is text, and stays text
    assert run("update", tid, "--meta", "k=NaN").exit_code == 0
    assert strict(run("show", tid, "--json").stdout)["metadata"] == {"k": "NaN"}


# --------------------------------------------------------- 8: --at under skew


def test_at_now_is_the_current_state_even_after_a_writer_ran_ahead(run: Run, home: Path) -> None:
    tid = run("create", "start").stdout.strip()
    skewed = Ledger.open(
        home, "main", "skewed", clock=lambda: time.time_ns() // 1_000_000 + 3_600_000
    )
    skewed.update(tid, Edits(subject="from an hour ahead"))
    run("note", tid, "later, by a sane clock")  # its HLC follows the skewed one
    now = run.json("show", tid)
    assert now["subject"] == "from an hour ahead"  # type: ignore[index]
    for moment in ("now", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))):
        assert run.json("show", tid, "--at", moment) == now, moment
    created = json.loads(run("history", "--json").stdout.splitlines()[0])["at"]
    assert run.json("show", tid, "--at", created)["subject"] == "start"  # type: ignore[index]


# ------------------------------------------- 10-17: what a new user ran into


def test_materialize_counts_exactly_the_files_it_rewrote(run: Run, home: Path) -> None:
    ids = [run("create", f"t{n}").stdout.strip() for n in range(3)]
    view = Layout.of(home, "main").view

    def inodes() -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in view.glob("*.json")}

    def counts() -> tuple[int, int]:
        report = run.json("materialize")
        return len(report["written"]), len(report["removed"])  # type: ignore[index,arg-type]

    before = inodes()
    shutil.rmtree(data_dir(home) / "cache")
    shutil.rmtree(data_dir(home) / "view")  # what each file last held, too
    written, removed = counts()
    after = inodes()
    assert written == sum(after[n] != before.get(n) for n in after) and removed == 0
    shutil.rmtree(view)  # a wipe (the sweep) is not a delete: every file comes back
    assert counts() == (3, 0)
    assert sorted(inodes()) == sorted(f"{i}.json" for i in ids)
    human = run("materialize").stdout
    assert human.strip() == "0 written, 0 removed"


def test_history_and_watch_of_a_task_show_edges_changed_from_the_other_side(
    run: Run, home: Path
) -> None:
    a = run("create", "a").stdout.strip()
    b = run("create", "b").stdout.strip()
    assert run("update", b, "--add-blocks", a).exit_code == 0  # an op on b that changes a
    ops = [json.loads(x) for x in run("history", a, "--json").stdout.splitlines()]
    assert [(o["op"], o["task"]) for o in ops] == [("create", a), ("update", b)]
    assert b[:4] in run("history", a).stdout.splitlines()[-1]
    import subprocess

    from tests.conftest import proc_env, taskledger_argv

    with subprocess.Popen(
        [*taskledger_argv(), "watch", "--task", a[:6], "--json"],
        env=proc_env(home, TASKLEDGER_SESSION="watcher"), stdout=subprocess.PIPE, text=True,
    ) as watch:  # fmt: skip
        import selectors

        sel = selectors.DefaultSelector()
        assert watch.stdout is not None
        sel.register(watch.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 120
        line = ""
        flip = False
        try:
            while not line and time.monotonic() < deadline:  # until the watcher follows
                flip = not flip
                run("update", b, "--remove-blocks" if flip else "--add-blocks", a)
                if sel.select(timeout=1.0):
                    line = watch.stdout.readline()
        finally:
            sel.close()
            watch.terminate()
    event = json.loads(line)
    assert event["task"] == b and a in event["fields"]["blocks"], event


def test_a_cycle_error_names_real_tasks(run: Run) -> None:
    a = run("create", "a").stdout.strip()
    b = run("create", "b", "--blocked-by", a).stdout.strip()
    for args in (
        ("create", "c", "--blocks", a, "--blocked-by", a),
        ("update", a, "--add-blocked-by", b),
    ):
        result = run(*args)
        assert result.exit_code == 1
        assert "cycle" in result.stderr and "0000" not in result.stderr, result.stderr
        assert a[:4] in result.stderr
    assert "the new task" in run("create", "c", "--blocks", a, "--blocked-by", a).stderr


def test_an_update_that_changes_nothing_records_nothing(run: Run) -> None:
    a = run("create", "a", "--meta", "k=v").stdout.strip()
    b = run("create", "b").stdout.strip()
    ops = run("history", "--json").stdout.count("\n")
    for args in (("--unset-meta", "missing"), ("--remove-blocked-by", b), ("--remove-blocks", b),
                 ("--subject", "a"), ("--meta", "k=v")):  # fmt: skip
        result = run("update", a, *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("unchanged"), (args, result.stdout)
    assert run("history", "--json").stdout.count("\n") == ops


def test_bad_option_values_are_usage_errors(run: Run) -> None:
    tid = run("create", "x").stdout.strip()
    for args in (
        ("watch", "--task", "zzzz"),
        ("show", tid, "--at", "garbage"),
        ("list", "--at", "yesterday-ish"),
        ("history", "--since", "garbage"),
        ("history", "--until", "soon"),
        ("claim", tid, "--lease", "-5"),
        ("list", "--limit", "-1"),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_the_mcp_server_says_its_version() -> None:
    import subprocess
    import sys

    from ledger import __version__

    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "mcp", "--session", "probe"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TASKLEDGER_HOME": os.environ["HOME"] + "/tasks"},
    )  # fmt: skip
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"}}}  # fmt: skip
    try:
        out, _ = proc.communicate(json.dumps(hello) + "\n", timeout=120)
    finally:
        proc.kill()
    reply = json.loads(out.splitlines()[0])
    assert reply["result"]["serverInfo"] == {"name": "taskledger", "version": __version__}
    assert __version__ and __version__ != "0.0.0"


def test_human_times_leases_widths_owners_and_limits(run: Run, home: Path) -> None:
    long_owner = "an-owner-with-a-name-much-longer-than-any-column-should-be"
    ids = [run("create", f"task number {n} " + "x" * 80).stdout.strip() for n in range(5)]
    run("update", ids[0], "--owner", long_owner)
    run("claim", ids[1], "--lease", "600")
    history = run("history").stdout.splitlines()
    import re

    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  ", ln) for ln in history[1:]), history
    claim_line = next(ln for ln in history if " claim " in ln)
    assert not re.search(r"\d{13}", claim_line), claim_line  # a lease shows as a time
    assert re.search(r"lease.*\d\d:\d\d:\d\dZ", claim_line), claim_line
    limited = run("list", "--limit", "2")
    listed = limited.stdout.splitlines()
    assert len([ln for ln in listed if ln.startswith(tuple(i[:4] for i in ids))]) == 2
    assert "2 of 5 tasks shown" in limited.stderr
    wide = run("list").stdout.splitlines()
    assert long_owner not in "\n".join(wide) and "…" in "\n".join(wide)
    os.environ["COLUMNS"] = "60"
    try:
        narrow = run("list").stdout.splitlines()
    finally:
        del os.environ["COLUMNS"]
    assert all(len(ln) <= 60 for ln in narrow), narrow


def test_verify_shows_where_a_long_value_differs(run: Run, home: Path, tmp_path: Path) -> None:
    evil = Replica(tmp_path / "evil", "mallory")
    ledger = evil.ledger
    task = ledger.create(Edits(subject="s"))
    ledger.update(task.id, Edits(subject="x" * 300 + "A"))
    (log,) = evil.own_logs()
    create, update = records(log)
    update["fields"]["subject"]["new"] = "x" * 300 + "B"
    plant(home, log.name, chained([create, update]))
    report = run("verify")
    assert report.exit_code == 1
    line = next(ln for ln in report.output.splitlines() if "subject" in ln)
    assert 'A"' in line and 'B"' in line and "character 302" in line, line
