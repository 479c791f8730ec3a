"""A writer appends and returns: what the next reader sees after many writers.

Writers bring in line only their own tasks' files (``ledger/_after_write``);
whoever reads next brings in line the rest. These tests race real writer
processes, some killed between their append and their file, with no
materializer or watch running, and then read once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import Edits, Ledger
from tests.conftest import proc_env

WRITER = """
import sys
from ledger import Edits, Ledger
home, index, count, tasks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
ledger = Ledger.open(home, "main", f"w{index}")
for n in range(count):
    ledger.update(tasks[(index + n) % len(tasks)], Edits(set_meta={f"w{index}-{n}": n}))
"""

KILLED = """
import os, sys
from ledger import Edits, Ledger
from ledger._view import View
View.sync = lambda self, ids, state=None, own=True: os._exit(0)
Ledger.open(sys.argv[1], "main", "killed").update(sys.argv[2], Edits(set_meta={"killed": 1}))
"""


def files(home: Path) -> dict[str, dict[str, object]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((home / "main").glob("*.json"))}


def test_a_reader_after_racing_library_writers_some_killed_sees_every_op_and_file(
    home: Path,
) -> None:
    writers, count = 4, 12
    setup = Ledger.open(home, "main", "setup", long_lived=False)
    shared = [setup.create(Edits(subject=f"shared {n}")).id for n in range(6)]
    alone = setup.create(Edits(subject="the killed writer's")).id  # no one else writes it
    env = proc_env(home)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), str(i), str(count), *shared], env=env
        )
        for i in range(writers)
    ]
    procs.append(subprocess.Popen([sys.executable, "-c", KILLED, str(home), shared[0]], env=env))
    assert [p.wait(timeout=240) for p in procs] == [0] * (writers + 1)
    # one more killed last, on a task no one else writes: its file stays behind
    subprocess.run([sys.executable, "-c", KILLED, str(home), alone], env=env, check=True)
    assert "killed" not in files(home)[alone].get("metadata", {})

    reader = Ledger.open(home, "main", "reader", long_lived=False)
    state = reader.state()
    expected = {
        (shared[(i + n) % len(shared)], f"w{i}-{n}"): n
        for i in range(writers)
        for n in range(count)
    }
    expected[(alone, "killed")] = expected[(shared[0], "killed")] = 1
    present = {(t.id, k): v for t in state.live() for k, v in t.metadata}
    assert {k: present.get(k) for k in expected} == expected  # every op
    on_disk = files(home)
    for task in state.live():  # every file, as the state says
        meta = on_disk[task.id].get("metadata", {})
        assert (on_disk[task.id]["subject"], meta) == (task.subject, dict(task.metadata))
    assert reader.warnings == []


def test_one_long_lived_writer_at_a_time_stages_the_next_snapshot(home: Path) -> None:
    """Many long-lived writers find a head older than a second at once: the first to
    make ``.saving`` stages and writes the next head; a saver gone quiet is replaced."""
    import os
    import time

    from ledger._save import SAVING, SAVING_FOR_S, done_saving, saving
    from ledger._snapshot import Snapshot

    alice = Ledger.open(home, "main", "alice")
    alice.create(Edits(subject="x"))
    folder = alice.layout.open("cache")
    assert folder is not None
    with folder:
        snapshot = Snapshot(folder)
        assert saving(snapshot, b"a") and saving(snapshot, b"a")  # a takes it, and keeps it
        assert not saving(snapshot, b"b")  # b leaves the save to a
        old = time.time() - SAVING_FOR_S - 1
        os.utime(SAVING, (old, old), dir_fd=folder.fd)  # a went quiet
        assert saving(snapshot, b"b") and not saving(snapshot, b"a")
        done_saving(snapshot, b"a")  # (not a's to give up any more)
        assert folder.read(SAVING) == b"b"
        done_saving(snapshot, b"b")
        assert folder.read(SAVING) is None and saving(snapshot, b"a")


def test_a_read_leaves_a_head_naming_no_file_its_pass_looked_at(home: Path) -> None:
    """A read that caught up from the logs names every task it read in the head it
    saves before its pass (``seen``), and none once its pass looked at them: a head
    naming 10k tasks made every later command look at 10k files."""
    import shutil

    from ledger import Layout

    writer = Ledger.open(home, "main", "writer", long_lived=False)
    ids = sorted(writer.create(Edits(subject=f"t{n}")).id for n in range(5))
    cache = Layout.of(home, "main").root / "cache"
    shutil.rmtree(cache)  # (the next read replays the logs)

    def unviewed() -> list[str]:
        return sorted(json.loads((cache / "head.json").read_bytes())["unviewed"])

    reader = Ledger.open(home, "main", "reader", long_lived=False)
    reader.seen()  # no pass: every task it read may have a file behind
    assert unviewed() == ids
    reader.state()
    assert unviewed() == []


def test_a_file_found_behind_again_during_a_write_stays_named_for_the_next_reader(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write brings two files in line; while it holds the second one's lock, another
    writer appends an op on the first and dies before its file. The first file was
    written before that op: the write must not count it as in line."""
    import ledger._cclock as cclock

    bob = Ledger.open(home, "main", "bob")
    one, two = sorted(bob.create(Edits(subject="x")).id for _ in range(2))
    real = cclock.LockDir.acquire
    fired = []

    def acquire(self: cclock.LockDir) -> None:
        if self.lock == f"{two}.json.lock" and not fired:
            fired.append(1)  # alice appends on ``one`` and dies before its file
            subprocess.run([sys.executable, "-c", KILLED_SUBJECT, str(home), one],
                           env=proc_env(home), check=True)  # fmt: skip
        real(self)

    monkeypatch.setattr(cclock.LockDir, "acquire", acquire)
    bob.update(two, Edits(add_blocks=[one]))  # writes ``one``'s file, then ``two``'s
    monkeypatch.setattr(cclock.LockDir, "acquire", real)
    assert fired and files(home)[one]["subject"] == "x"  # behind alice's op
    assert bob.reader.replayer is not None and one in bob.reader.replayer.index.unviewed()
    bob.flush()
    reader = Ledger.open(home, "main", "reader", long_lived=False)
    assert reader.get(one).subject == "renamed by alice"
    assert files(home)[one]["subject"] == "renamed by alice"


KILLED_SUBJECT = """
import os, sys
from ledger import Edits, Ledger
from ledger._view import View
View.sync = lambda self, ids, state=None, own=True: os._exit(0)
Ledger.open(sys.argv[1], "main", "alice").update(sys.argv[2], Edits(subject="renamed by alice"))
"""

KILLED_BEFORE_BASELINE = """
import os, sys
from ledger import Edits, Ledger, Status
from ledger._baseline import Baselines
Baselines.keep = lambda *args: os._exit(0)  # (the task file is written, its baseline not)
Ledger.open(sys.argv[1], "main", "alice").update(sys.argv[2], Edits(status=Status.IN_PROGRESS))
"""


def test_a_write_after_a_writer_died_between_its_file_and_its_baseline_stands(
    home: Path,
) -> None:
    """Alice's file holds her op but its baseline is the one before: a pass reads it
    as a change Claude Code made. Recorded before bob's write it records nothing;
    recorded after, it would put alice's status back over bob's."""
    import os
    import time

    from ledger import Status

    setup = Ledger.open(home, "main", "setup", long_lived=False)
    task = setup.create(Edits(subject="t")).id
    setup.tasks()  # (a pass: the folder's stamp, so bob's write looks at the file alone)
    subprocess.run([sys.executable, "-c", KILLED_BEFORE_BASELINE, str(home), task],
                   env=proc_env(home), check=True)  # fmt: skip
    assert files(home)[task]["status"] == "in_progress"
    lock = home / "main" / f"{task}.json.lock"  # alice died holding it: stale in 10 s
    os.utime(lock, (time.time() - 60, time.time() - 60))
    bob = Ledger.open(home, "main", "bob")
    assert bob.update(task, Edits(status=Status.COMPLETED)).status is Status.COMPLETED
    reader = Ledger.open(home, "main", "reader", long_lived=False)
    assert reader.get(task).status is Status.COMPLETED
    assert files(home)[task]["status"] == "completed"


def test_a_file_claude_code_held_locked_is_looked_at_by_the_next_reader(home: Path) -> None:
    """A reader's pass that finds a file behind but locked by Claude Code leaves it;
    the next reader (answered from the snapshot the first one saved) writes it."""
    import os
    import time

    setup = Ledger.open(home, "main", "setup", long_lived=False)
    task = setup.create(Edits(subject="t")).id
    subprocess.run([sys.executable, "-c", KILLED_SUBJECT, str(home), task],
                   env=proc_env(home), check=True)  # fmt: skip
    lock = home / "main" / f"{task}.json.lock"
    lock.mkdir()  # Claude Code is writing it (for longer than a pass waits)
    later = time.time() + 3600  # (fresh however slow this machine is: stale only after 10 s)
    os.utime(lock, (later, later))
    first = Ledger.open(home, "main", "first", long_lived=False)
    assert first.get(task).subject == "renamed by alice"
    assert any("locked by Claude Code" in w for w in first.warnings)
    assert files(home)[task]["subject"] == "t"
    lock.rmdir()
    second = Ledger.open(home, "main", "second", long_lived=False)
    assert second.get(task).subject == "renamed by alice"
    assert files(home)[task]["subject"] == "renamed by alice"


def test_what_claude_code_changed_in_a_linked_tasks_file_is_recorded_before_the_write(
    tmp_path: Path,
) -> None:
    """An update that links another task writes that task's file too: a change Claude
    Code made there is recorded first, as one it made before the write."""
    from tests.claude_code import NEW, ClaudeCode

    config = tmp_path / "claude"
    home = config / "tasks"
    home.mkdir(parents=True)
    ledger = Ledger.open(home, "main", "alice")
    one, two = (ledger.create(Edits(subject=s)).id for s in ("one", "two"))
    ledger.tasks()  # (a pass: the folder's stamp)
    cc = ClaudeCode(config, "main", NEW)
    assert cc.update(two, subject="two, by claude code")["success"]
    ledger.update(one, Edits(add_blocks=[two]))
    kinds = [(op.session, op.kind) for op in ledger.history(two)]
    assert kinds[-2:] == [("claude-code", "update"), ("alice", "update")]
    assert ledger.get(two).subject == "two, by claude code"


def test_a_command_answered_from_a_head_naming_tasks_writes_it_again_once_it_looked(
    home: Path,
) -> None:
    """A head a read saved before any pass (``seen``) names every task it read; the
    next command, answered from it, looks at them and writes the head without them."""
    import shutil

    from ledger import Layout

    writer = Ledger.open(home, "main", "writer", long_lived=False)
    ids = sorted(writer.create(Edits(subject=f"t{n}")).id for n in range(5))
    cache = Layout.of(home, "main").root / "cache"
    shutil.rmtree(cache)
    Ledger.open(home, "main", "first", long_lived=False).seen()

    def unviewed() -> list[str]:
        return sorted(json.loads((cache / "head.json").read_bytes())["unviewed"])

    assert unviewed() == ids
    second = Ledger.open(home, "main", "second", long_lived=False)
    assert [t.id for t in second.tasks()] and unviewed() == []
    third = Ledger.open(home, "main", "third", long_lived=False)
    third.tasks()
    assert third.reader.replayer is None  # (answered from the head alone)


def test_a_writer_holding_too_many_unviewed_tasks_looks_at_them_itself(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``UNVIEWED_MAX`` tasks other writers changed, a writer brings their files in
    line itself (so the heads it saves name at most that many)."""
    import ledger._after_write as after_write

    bob = Ledger.open(home, "main", "bob")
    mine, theirs = (bob.create(Edits(subject=s)).id for s in ("mine", "theirs"))
    subprocess.run([sys.executable, "-c", KILLED_SUBJECT, str(home), theirs],
                   env=proc_env(home), check=True)  # fmt: skip
    assert files(home)[theirs]["subject"] == "theirs"  # alice died before her file
    monkeypatch.setattr(after_write, "UNVIEWED_MAX", 0)
    bob.update(mine, Edits(subject="mine, again"))
    assert files(home)[theirs]["subject"] == "renamed by alice"  # bob wrote it
    assert bob.reader.replayer is not None and not bob.reader.replayer.index.unviewed()


def test_a_task_claude_code_created_is_recorded_by_the_next_write_before_a_folder_removal(
    tmp_path: Path,
) -> None:
    """A write of another task finds a task file of no task it knows in a folder its
    last pass looked over: it records that task first, so removing the folder after
    the write (a sweep, ``rm -rf``) does not take the task with it."""
    import shutil

    from tests.claude_code import NEW, ClaudeCode

    config = tmp_path / "claude"
    home = config / "tasks"
    home.mkdir(parents=True)
    ledger = Ledger.open(home, "main", "alice")
    mine = ledger.create(Edits(subject="mine")).id
    ledger.tasks()  # (a pass: the folder's stamp)
    cc = ClaudeCode(config, "main", NEW)
    number = cc.create("made by claude code")
    ledger.update(mine, Edits(subject="mine, again"))
    shutil.rmtree(cc.folder)
    reader = Ledger.open(home, "main", "reader", long_lived=False)
    subjects = sorted(t.subject for t in reader.tasks())
    assert subjects == ["made by claude code", "mine, again"]
    assert reader.get(number).subject == "made by claude code"
