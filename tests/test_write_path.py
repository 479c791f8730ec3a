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


def test_a_reader_after_many_writers_sees_every_op_and_every_file(home: Path) -> None:
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
