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

import ledger._materialize as materialize_module
from ledger import Edits, Ledger
from ledger._derived import Derived
from tests.replicas import replay_dir


def files(root: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["subject"] for p in root.glob("*.json")}


def replayed(home: Path) -> dict[str, str]:
    state = replay_dir(home / "l" / ".ledger" / "logs")
    return {t.id: t.subject for t in state.live()}


def test_a_read_repairing_files_while_a_writer_commits_leaves_the_newest(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Ledger.open(home, "l", "alice")
    tid = alice.create(Edits(subject="old subject")).id
    Ledger.open(home, "l", "x").state()  # a fresh view on disk
    (home / "l" / "stray-trigger").write_text("")  # the folder changed: readers repair
    real = Derived.load

    def load_then_writer_commits(self: Derived) -> bool:
        loaded = real(self)
        monkeypatch.setattr(Derived, "load", real)
        bob = Ledger.open(home, "l", "bob")
        bob.update(tid, Edits(subject="new subject"))
        bob.create(Edits(subject="brand new task"))
        return loaded

    monkeypatch.setattr(Derived, "load", load_then_writer_commits)
    Ledger.open(home, "l", "reader").state()
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

    bob.derived.settle = killed_after_append  # type: ignore[method-assign,assignment]
    late = Ledger.open(home, "l", "alice")
    real_writer_id = late.writer_id

    def bob_lands_first() -> str:
        # bob's append lands between alice's read and alice's lock
        with pytest.raises(KeyboardInterrupt):
            bob.update(two, Edits(subject="two (renamed by bob)"))
        return real_writer_id()

    late.writer_id = bob_lands_first  # type: ignore[method-assign]
    late.update(one, Edits(subject="one (renamed by alice)"))
    assert files(home / "l") == replayed(home)
    assert files(home / "l")[two] == "two (renamed by bob)"


def test_a_refused_file_write_is_retried_by_the_next_command(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Ledger.open(home, "l", "alice")
    tid = alice.create(Edits(subject="one")).id

    def denied(folder: Path, ident: str, data: bytes) -> object:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(materialize_module, "_write", denied)
    writer = Ledger.open(home, "l", "alice")
    writer.update(tid, Edits(subject="renamed"))
    assert any("Permission denied" in w for w in writer.warnings)
    monkeypatch.undo()
    Ledger.open(home, "l", "bob").state()  # any later command
    assert files(home / "l") == {tid: "renamed"}
