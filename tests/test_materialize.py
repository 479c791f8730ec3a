"""Materialized task files: Claude Code's schema, atomic, rebuilt when stale."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Run


def create(run: Run, *args: str) -> str:
    result = run("create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def files(home: Path) -> dict[str, dict[str, object]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((home / "main").glob("*.json"))}


def test_files_use_claude_codes_schema_and_key_order(run: Run, home: Path) -> None:
    a = create(run, "plain")
    b = create(
        run, "rich", "-d", "text", "--active-form", "Enriching", "--blocked-by", a, "--meta", "k=v"
    )
    run("update", b, "--owner", "alice")
    on_disk = files(home)
    assert list(on_disk[a]) == ["id", "subject", "description", "status", "blocks", "blockedBy"]
    assert on_disk[a] == {
        "id": a, "subject": "plain", "description": "", "status": "pending",
        "blocks": [b], "blockedBy": [],
    }  # fmt: skip
    assert list(on_disk[b]) == [
        "id", "subject", "description", "activeForm", "status", "owner",
        "blocks", "blockedBy", "metadata",
    ]  # fmt: skip
    assert on_disk[b]["metadata"] == {"k": "v"}
    text = (home / "main" / f"{a}.json").read_text()
    assert text.startswith('{\n  "id": ') and text.endswith("}\n")
    assert not [p for p in (home / "main").iterdir() if p.name.endswith(".tmp")]


def test_deleting_every_file_loses_nothing(run: Run, home: Path) -> None:
    ids = [create(run, f"task {i}") for i in range(5)]
    before = files(home)
    for path in (home / "main").glob("*.json"):
        path.unlink()
    listing = run.json("list")
    assert [t["id"] for t in listing] == ids  # type: ignore[union-attr,index]
    for path in (home / "main").glob("*.json"):
        path.unlink()
    result = run("materialize")
    assert result.exit_code == 0
    assert result.stdout == "5 written, 0 removed\n"
    assert files(home) == before


def test_any_command_repairs_replaced_files_and_records_a_removed_one(run: Run, home: Path) -> None:
    """A file replaced by something that is not a task is written again; one task
    file removed on its own is what Claude Code's delete does, so it is recorded
    as a delete (issue 13: a native delete stays deleted), never undone."""
    a = create(run, "keep me")
    b = create(run, "me too")
    (home / "main" / f"{a}.json").unlink()
    (home / "main" / f"{b}.json").write_text('{"id": "tampered"}')
    assert run("list").exit_code == 0  # a read finds the folder changed and repairs it
    assert files(home)[b]["subject"] == "me too"
    assert a not in files(home)
    assert [t["id"] for t in run.json("list")] == [b]  # type: ignore[union-attr,index]
    assert run.json("show", a)["deleted"] is True  # type: ignore[index]
    ops = [json.loads(x) for x in run("history", a, "--json").stdout.splitlines()]
    assert [(o["op"], o["session"]) for o in ops] == [
        ("create", "tester"),
        ("delete", "claude-code"),
    ]


def test_materialize_removes_our_strays_and_leaves_foreign_files(run: Run, home: Path) -> None:
    a = create(run, "live")
    stray = "0123456789abcdef"
    (home / "main" / f"{stray}.json").write_text("{}")
    (home / "main" / "1.json").write_text('{"id": "1"}')
    (home / "main" / "notes.txt").write_text("mine")
    result = run.json("materialize")
    assert result == {"written": [], "removed": [stray], "errors": []}
    assert sorted(
        p.name for p in (home / "main").iterdir() if not p.name.startswith(".")
    ) == sorted(["1.json", f"{a}.json", "notes.txt"])


def test_a_file_that_cannot_be_written_is_a_warning_not_a_lost_op(run: Run, home: Path) -> None:
    a = create(run, "first")
    blocker = home / "main" / f"{a}.json"
    blocker.unlink()
    blocker.mkdir()  # the rename over it will fail
    result = run("update", a, "--subject", "renamed")
    assert result.exit_code == 0  # the op is committed: it is in the log
    assert "warning: task files not updated: cannot write task files" in result.stderr
    blocker.rmdir()
    assert run.json("show", a)["subject"] == "renamed"  # type: ignore[index]
    assert files(home)[a]["subject"] == "renamed"
    blocker.unlink()
    blocker.mkdir()
    result = run("materialize")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write task files")


def test_long_lived_ledgers_keep_files_current(home: Path) -> None:
    from ledger import Edits, Ledger, Status

    alice = Ledger.open(home, "main", "alice")
    bob = Ledger.open(home, "main", "bob")
    first = alice.create(Edits(subject="first"))
    second = bob.create(Edits(subject="second", add_blocked_by=[first.id]))
    alice.update(second.id, Edits(subject="second, renamed by alice"))
    bob.update(first.id, Edits(status=Status.COMPLETED))
    alice.note(first.id, "done")
    bob.delete(first.id)
    on_disk = files(home)
    assert set(on_disk) == {second.id}
    assert on_disk[second.id]["subject"] == "second, renamed by alice"
    assert on_disk[second.id]["blockedBy"] == []  # its blocker is deleted
    assert alice.state() == bob.state() == Ledger.open(home, "main", "carol").state()


def test_only_the_changed_tasks_file_is_rewritten(home: Path) -> None:
    """A write replaces one file; a process that finds the others' files already
    holding its bytes leaves them alone (the inode tells a rewrite)."""
    from ledger import Edits, Ledger

    alice = Ledger.open(home, "main", "alice")
    ids = [alice.create(Edits(subject=f"task {n}")).id for n in range(20)]
    folder = home / "main"

    def inodes() -> dict[str, int]:
        return {p.stem: p.stat().st_ino for p in folder.glob("*.json")}

    before = inodes()
    Ledger.open(home, "main", "bob").update(ids[3], Edits(subject="renamed"))
    after = inodes()
    assert {i for i in ids if after[i] != before[i]} == {ids[3]}
    # alice catches up on bob's op: the file already holds it, so it stays
    alice.update(ids[4], Edits(subject="mine"))
    final = inodes()
    assert {i for i in ids if final[i] != after[i]} == {ids[4]}
    assert files(home)[ids[3]]["subject"] == "renamed"


def test_the_next_reader_brings_in_line_the_file_a_killed_writer_left_behind(
    home: Path,
) -> None:
    """A writer killed between its append and its file: the next writer, whose
    catch-up reads that op, writes only its own task's file (a writer appends and
    returns) and names the other in the snapshot it saves; a command that reads
    next, answered from that snapshot, writes the file."""
    import subprocess
    import sys

    from ledger import Edits, Layout, Ledger
    from tests.conftest import proc_env

    bob = Ledger.open(home, "main", "bob")
    first, second = (bob.create(Edits(subject=s)) for s in ("first", "second"))
    seen = bob.state()  # bob has read everything so far
    killed = (
        "import os, sys\n"
        "from ledger import Edits, Ledger\n"
        "from ledger._view import View\n"
        "View.sync = lambda self, ids, state=None, own=True: os._exit(0)\n"
        "Ledger.open(sys.argv[1], 'main', 'alice').update(sys.argv[2], Edits(subject='renamed'))\n"
    )
    subprocess.run([sys.executable, "-c", killed, str(home), first.id], env=proc_env(home),
                   check=True)  # fmt: skip
    assert files(home)[first.id]["subject"] == "first"  # the killed writer's file is behind
    bob.update(second.id, Edits(subject="second, again"), based_on=seen)  # no read first
    on_disk = files(home)
    assert on_disk[first.id]["subject"] == "first"  # not bob's to write
    assert on_disk[second.id]["subject"] == "second, again"
    bob.flush()  # (its snapshot now, not within a second)
    head = json.loads((Layout.of(home, "main").root / "cache" / "head.json").read_bytes())
    assert head["unviewed"] == [first.id]  # bob read alice's op: its head says so
    carol = Ledger.open(home, "main", "carol", long_lived=False)
    assert carol.get(first.id).subject == "renamed"
    head = json.loads((Layout.of(home, "main").root / "cache" / "head.json").read_bytes())
    assert head["unviewed"] == []  # carol looked at it, and wrote the head again
    assert files(home)[first.id]["subject"] == "renamed"


def test_a_noticed_name_of_no_task_in_a_quiet_folder_is_left_alone(home: Path) -> None:
    import os
    import time

    from ledger import Edits, Ledger

    alice = Ledger.open(home, "main", "alice")
    alice.create(Edits(subject="x"))
    old = time.time() - 3600
    os.utime(home / "main", (old, old))  # long quiet: the next pass trusts its stamp
    Ledger.open(home, "main", "bob").materialize()
    alice.notice(["foo", "42"])
    assert [t.subject for t in alice.tasks()] == ["x"]
    assert not (home / "main" / "foo.json.lock").exists()
    assert sorted(p.name for p in (home / "main").iterdir() if not p.name.startswith(".")) == [
        f"{alice.tasks()[0].id}.json"
    ]
