"""Interleavings that real processes hit rarely, forced in one process.

Each test pauses one party at the worst moment (by wrapping one of its
steps) while another party commits, then checks that no committed op is
lost and that the task files end equal to the replay of all logs.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from ledger import Edits, Ledger
from ledger._fs import Dir
from ledger._reader import Reader
from tests.conftest import data_dir
from tests.replicas import replay_dir


def files(root: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["subject"] for p in root.glob("*.json")}


def replayed(home: Path) -> dict[str, str]:
    state = replay_dir(data_dir(home, "l") / "logs")
    return {t.id: t.subject for t in state.live()}


def test_a_read_repairing_files_while_a_writer_commits_leaves_the_newest(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Ledger.open(home, "l", "alice")
    tid = alice.create(Edits(subject="old subject")).id
    Ledger.open(home, "l", "x").state()  # a fresh view on disk
    (home / "l" / "stray-trigger").write_text("")  # the folder changed: readers repair
    real = Reader.state

    def read_then_writer_commits(self: Reader, *, save: bool = True) -> object:
        state = real(self, save=save)
        monkeypatch.setattr(Reader, "state", real)
        bob = Ledger.open(home, "l", "bob", long_lived=False)
        bob.update(tid, Edits(subject="new subject"))
        bob.create(Edits(subject="brand new task"))
        return state  # the reader goes on with what it read before bob's ops

    monkeypatch.setattr(Reader, "state", read_then_writer_commits)
    Ledger.open(home, "l", "reader", long_lived=False).state()
    assert files(home / "l") == replayed(home)
    assert sorted(files(home / "l").values()) == ["brand new task", "new subject"]


def test_ops_caught_up_under_the_lock_are_materialized(home: Path) -> None:
    alice = Ledger.open(home, "l", "alice")
    one = alice.create(Edits(subject="one")).id
    two = alice.create(Edits(subject="two")).id
    while two[:2] == one[:2]:
        two = alice.create(Edits(subject="two")).id
    bob = Ledger.open(home, "l", "bob")

    def killed_after_append(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # bob dies right after his record is on disk

    bob._construct_view().sync = killed_after_append  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        bob.update(two, Edits(subject="two (renamed by bob)"))
    assert files(home / "l")[two] == "two"  # bob never wrote his file
    Ledger.open(home, "l", "alice", long_lived=False).update(one, Edits(subject="one (renamed)"))
    assert files(home / "l") == replayed(home)
    assert files(home / "l")[two] == "two (renamed by bob)"


def test_a_refused_file_write_is_retried_by_the_next_command(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Ledger.open(home, "l", "alice")
    tid = alice.create(Edits(subject="one")).id
    real = Dir.write_atomic

    def denied(self: Dir, name: str, data: bytes, mode: int = 0o600) -> object:
        if self.path == home / "l":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self, name, data, mode)

    monkeypatch.setattr(Dir, "write_atomic", denied)
    writer = Ledger.open(home, "l", "alice", long_lived=False)
    writer.update(tid, Edits(subject="renamed"))
    assert any("Permission denied" in w for w in writer.warnings)
    assert files(home / "l") == {tid: "one"}
    monkeypatch.undo()
    Ledger.open(home, "l", "bob", long_lived=False).state()  # any later command
    assert files(home / "l") == {tid: "renamed"}
    # the old file was ours, not a change of Claude Code's: nothing was recorded from it
    assert [r.session for r in Ledger.open(home, "l", "carol").history(tid)] == ["alice"] * 2
