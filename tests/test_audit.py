"""The audit trail: history with old -> new, time travel, conflicts, blame, export."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from ledger import Edits
from ledger._timeparse import iso_ms
from tests.conftest import Run
from tests.replicas import Clock, Replica


def lines(run: Run, *args: str) -> list[dict[str, object]]:
    result = run("history", *args, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(x) for x in result.stdout.splitlines()]


def test_history_names_three_sessions_changes_old_to_new(run: Run) -> None:
    tid = run("create", "draft", session="alice").stdout.strip()
    run("update", tid, "--subject", "first cut", "--status", "in_progress", session="bob")
    run("update", tid, "--subject", "final", "--meta", "reviewed=yes", session="carol")
    run("note", tid, "shipped", session="alice")
    human = run("history", tid).stdout.splitlines()
    assert human[0].split() == ["TIME", "SESSION", "OP", "TASK", "SUBJECT", "CHANGES"]
    assert [ln.split()[2] for ln in human[1:]] == ["alice", "bob", "carol", "alice"]
    assert "subject=draft" in human[1]
    assert "subject: draft → first cut, status: pending → in_progress" in human[2]
    assert "subject: first cut → final, metadata.reviewed=yes" in human[3]
    assert "note shipped" in human[4]
    assert all(f"{tid[:4]}  final" in ln for ln in human[1:])  # short id + subject
    ops = lines(run, tid)
    assert [o["session"] for o in ops] == ["alice", "bob", "carol", "alice"]
    assert ops[1]["fields"]["subject"]["old"] == "draft"  # type: ignore[index]
    assert ops[1]["fields"]["subject"]["new"] == "first cut"  # type: ignore[index]
    assert list(ops[0]) == [
        "at", "hlc", "session", "writer", "seq", "op", "task", "subject", "fields",
    ]  # fmt: skip
    assert ops[0]["subject"] == "final"
    # filters
    assert [o["session"] for o in lines(run, "--session", "carol")] == ["carol"]
    assert [o["op"] for o in lines(run, "--op", "note")] == ["note"]
    assert [o["op"] for o in lines(run, "--op", "create", "--op", "note")] == ["create", "note"]
    assert [o["session"] for o in lines(run, "--limit", "2")] == ["carol", "alice"]
    middle = ops[1]["at"]
    assert isinstance(middle, str)
    assert [o["session"] for o in lines(run, "--since", middle)] == ["bob", "carol", "alice"]
    assert [o["session"] for o in lines(run, "--until", middle)] == ["alice", "bob"]
    assert lines(run, "--since", "1h", "--until", "2h") == []


def test_long_text_is_elided_in_human_history(run: Run) -> None:
    run("create", "x" * 300, "-d", "y" * 5000)
    (line,) = run("history").stdout.splitlines()[1:]
    assert len(line) < 200
    assert "…" in line


def test_show_and_list_at_a_moment_between_two_edits(run: Run) -> None:
    first = run("create", "first version").stdout.strip()
    time.sleep(0.02)
    between = iso_ms(int(time.time() * 1000))
    time.sleep(0.02)
    run("update", first, "--subject", "second version", "--status", "completed")
    later = run("create", "created later").stdout.strip()
    then = run.json("show", first, "--at", between)
    assert (then["subject"], then["status"]) == ("first version", "pending")  # type: ignore[index]
    shown_as = between[:19].replace("T", " ") + "Z"
    assert run("show", first, "--at", between).stdout.startswith(f"(as of {shown_as})")
    assert [t["id"] for t in run.json("list", "--at", between)] == [first]  # type: ignore[union-attr,index]
    assert [t["id"] for t in run.json("list")] == [first, later]  # type: ignore[union-attr,index]
    missing = run("show", later, "--at", between)
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: no task matches '{later}' as of {between}\n"
    assert run.json("list", "--at", "2000-01-01") == []
    assert [t["id"] for t in run.json("list", "--at", "1m")] == []  # a minute ago: nothing yet


def test_time_travel_shows_a_lease_as_it_was(run: Run) -> None:
    tid = run("create", "leased").stdout.strip()
    run("claim", tid, "--lease", "3600", session="alice")
    during = iso_ms(int(time.time() * 1000) + 10)
    time.sleep(0.02)
    run("release", tid, session="alice")
    then = run.json("show", tid, "--at", during)
    assert then["lease"]["holder"] == "alice"  # type: ignore[index]
    assert then["lease"]["live"] is True  # type: ignore[index]
    assert run.json("show", tid)["lease"] is None  # type: ignore[index]


def test_a_concurrent_write_is_a_conflict_and_a_sequential_one_is_not(tmp_path: Path) -> None:
    a = Replica(tmp_path / "a", "alice", Clock(1_800_000_000_000))
    b = Replica(tmp_path / "b", "bob", Clock(1_800_000_000_000))
    tid = a.ledger.create(Edits(subject="start")).id
    a.send_to(b)
    # sequential: bob saw alice's subject and overwrote it
    b.ledger.update(tid, Edits(subject="bob, having seen start"))
    b.send_to(a)
    assert a.ledger.conflicts() == []
    # concurrent: neither saw the other
    a.ledger.update(tid, Edits(subject="alice, concurrently"))
    b.clock.now = a.clock.now + 10
    b.ledger.update(tid, Edits(subject="bob, concurrently"))
    a.send_to(b)
    b.send_to(a)
    for replica in (a, b):
        (conflict,) = replica.ledger.conflicts(tid)
        assert conflict.register == "subject"
        assert conflict.lost.change.new == "alice, concurrently"
        assert conflict.lost.record.session == "alice"
        assert conflict.won.change.new == "bob, concurrently"
        assert conflict.won.record.session == "bob"
        assert replica.ledger.get(tid).subject == "bob, concurrently"


def test_conflicts_cli_shows_both_sides(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    from cli._main import cli

    a = Replica(tmp_path / "a", "alice", Clock(1_800_000_000_000))
    b = Replica(tmp_path / "b", "bob", Clock(1_800_000_000_000))
    tid = a.ledger.create(Edits(subject="start")).id
    other = a.ledger.create(Edits(subject="other")).id
    a.send_to(b)
    a.ledger.update(tid, Edits(set_meta={"prio": "low"}, add_blocked_by=[other]))
    b.clock.now += 10
    # bob adds the same edge and takes it out again, never having seen alice's
    # (removing an edge he never saw would change nothing and is not recorded)
    b.ledger.update(tid, Edits(add_blocked_by=[other]))
    b.ledger.update(tid, Edits(set_meta={"prio": "high"}, remove_blocked_by=[other]))
    b.send_to(a)
    args = ["conflicts", "--home", str(a.home), "--list", "main"]
    human = runner.invoke(cli, args)
    assert human.exit_code == 0
    rows = human.stdout.splitlines()
    assert rows[0].split() == ["TASK", "FIELD", "LOST", "LOST", "TO"]
    assert any("metadata.prio" in r and "low (alice" in r and "high (bob" in r for r in rows)
    assert any(f"blockedBy.{other[:4]}" in r and "true (alice" in r for r in rows)
    data = json.loads(runner.invoke(cli, [*args, "--json"]).stdout)
    fields = sorted(c["field"] for c in data)
    assert fields == [f"blockedBy.{other}", "metadata.prio"]
    prio = next(c for c in data if c["field"] == "metadata.prio")
    assert (prio["lost"]["value"], prio["lost"]["session"]) == ("low", "alice")
    assert (prio["won"]["value"], prio["won"]["session"]) == ("high", "bob")
    assert prio["task"] == tid and prio["subject"] == "start"


def test_blame_says_who_set_each_field(run: Run) -> None:
    tid = run("create", "blamed", "-d", "text", session="alice").stdout.strip()
    run("update", tid, "--status", "in_progress", "--meta", "k=v", session="bob")
    run("note", tid, "hi", session="carol")
    rows = {r["field"]: r for r in run.json("blame", tid)}  # type: ignore[union-attr,index]
    assert (rows["subject"]["value"], rows["subject"]["session"]) == ("blamed", "alice")
    assert (rows["status"]["value"], rows["status"]["session"]) == ("in_progress", "bob")
    assert (rows["metadata.k"]["value"], rows["metadata.k"]["session"]) == ("v", "bob")
    assert (rows["description"]["value"], rows["description"]["session"]) == ("text", "alice")
    assert (rows["note 1"]["value"], rows["note 1"]["session"]) == ("hi", "carol")
    human = run("blame", tid).stdout.splitlines()
    assert human[0].split() == ["FIELD", "VALUE", "SET", "BY", "AT"]


def test_export_merges_every_log_in_hlc_order(run: Run) -> None:
    tid = run("create", "exported", session="alice").stdout.strip()
    run("update", tid, "--subject", "renamed", "--meta", "k=1", session="bob")
    run("note", tid, "n", session="carol")
    jsonl = [json.loads(x) for x in run("export").stdout.splitlines()]
    assert [r["session"] for r in jsonl] == ["alice", "bob", "carol"]
    assert jsonl == lines(run)
    rows = list(csv.DictReader(io.StringIO(run("export", "--format", "csv").stdout)))
    assert [(r["session"], r["field"]) for r in rows] == [
        ("alice", "subject"),
        ("alice", "status"),
        ("bob", "subject"),
        ("bob", "metadata.k"),
        ("carol", "note"),
    ]
    renamed = rows[2]
    assert (renamed["old"], renamed["new"], renamed["op"]) == ("exported", "renamed", "update")
    assert renamed["base"].endswith(":1")
