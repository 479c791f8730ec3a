"""A long-lived process (the MCP server, a library user): the writes it leaves for later.

It writes ``view/``'s stats and the folder's stamp at most once a second
(``ledger._carry``), and spreads a snapshot over its next calls
(``ledger._save.stage``). Neither may hide a change of Claude Code's or of
another writer's from anyone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ledger import Edits, Layout, Ledger
from tests.claude_code import NEW, ClaudeCode
from tests.test_snapshot import LIST, canonical, full_replay


def test_claude_codes_write_after_a_carried_stamp_is_recorded_by_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger._carry as carry

    monkeypatch.setattr(carry, "FLUSH_S", 1e9)  # (carried however slow the machine is)
    config = tmp_path / "claude"
    home = config / "tasks"
    home.mkdir(parents=True)
    alice = Ledger.open(home, "main", "alice")
    a, b = (alice.create(Edits(subject=s)).id for s in ("a", "b"))
    alice.update(a, Edits(subject="a, renamed"))
    assert alice._carry  # the stamp of that write is not written yet
    stamp_file = Layout.of(home, "main").root / "view" / "folder.json"
    before = json.loads(stamp_file.read_bytes())["at"] if stamp_file.exists() else 0
    cc = ClaudeCode(config, "main", NEW)
    assert cc.update(b, subject="b, by claude code")["success"]
    assert alice.state().tasks[b].subject == "b, by claude code"  # the process itself
    bob = Ledger.open(home, "main", "bob", long_lived=False)
    assert bob.state().tasks[b].subject == "b, by claude code"  # and a command
    assert cc.update(a, owner="agent-3")["success"]
    # bob's pass wrote a newer stamp than the one alice carries: alice's gives way
    assert json.loads(stamp_file.read_bytes())["at"] > before
    task = alice.state().tasks[a]
    assert (task.subject, task.owner) == ("a, renamed", "agent-3")
    assert [(o.session, o.kind) for o in alice.history(a)][-1] == ("claude-code", "update")
    for ledger in (alice, Ledger.open(home, "main", "carol", long_lived=False)):
        state = ledger.state()
        for ident in (a, b):
            on_disk = cc.get(ident)
            assert on_disk is not None and on_disk["subject"] == state.tasks[ident].subject


def test_what_a_long_lived_process_carries_is_written_within_a_second(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once due, the next pass writes the stats and the stamp: a command after it
    finds the folder quiet (one ``stat``) instead of comparing every file."""
    import ledger._carry as carry
    from ledger._settled import settled

    monkeypatch.setattr(carry, "FLUSH_S", 1e9)  # (carried however slow the machine is)
    alice = Ledger.open(home, "main", "alice")
    ids = [alice.create(Edits(subject=f"t{n}")).id for n in range(5)]
    alice.update(ids[0], Edits(subject="renamed"))
    layout = Layout.of(home, "main")
    assert alice._carry and not settled(layout)  # (a command would compare the files)
    monkeypatch.setattr(carry, "FLUSH_S", 0.0)
    alice.update(ids[1], Edits(subject="renamed too"))
    assert not alice._carry
    assert settled(layout)


def test_a_spread_save_writes_a_shard_again_when_it_changes_after_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two shards a call: the head waits until every changed shard has a file of its
    current version, and names no file staged before a later change."""
    import ledger._reader as reader
    import ledger._save as save

    monkeypatch.setattr(save, "STAGE_BYTES", 1)
    held = lambda: monkeypatch.setattr(reader, "_SAVE_EVERY_S", 1e9)  # noqa: E731
    due = lambda: monkeypatch.setattr(reader, "_SAVE_EVERY_S", 0.0)  # noqa: E731
    home = tmp_path / "home"
    held()  # bob, long-lived too, saves only once: erin's saves are the ones tested
    bob = Ledger.open(home, LIST, "bob")
    ids = [bob.create(Edits(subject=f"t{n}")).id for n in range(40)]
    by_shard = {i[:2]: i for i in ids}
    assert len(by_shard) >= 8
    erin = Ledger.open(home, LIST, "erin")
    erin.state()  # (its first save is whole)
    head = Layout.of(home, LIST).root / "cache" / "head.json"
    first = head.read_bytes()
    targets = list(by_shard.values())[:8]
    for n, ident in enumerate(targets):
        bob.update(ident, Edits(subject=f"changed {n}"))
    due()
    erin.state()
    staged = dict(erin.reader.replayer.shards.staged)  # type: ignore[union-attr]
    assert len(staged) == 2 and head.read_bytes() == first  # a cycle under way
    again = next(i for i in targets if i[:2] in staged)
    held()
    bob.update(again, Edits(subject="changed after staging"))
    due()
    for _ in range(20):
        erin.state()
        if head.read_bytes() != first:
            break
    named = json.loads(head.read_bytes())["shards"]
    assert named[again[:2]] != staged[again[:2]][1]  # written again, not the staged file
    fresh = Ledger.open(home, LIST, "reader", long_lived=False)
    assert canonical(fresh.state()) == full_replay(home)
    assert fresh.state().tasks[again].subject == "changed after staging"


CARRY_THEN = """
import os, sys
import ledger._carry as carry
carry.FLUSH_S = 1e9  # (nothing is due while it runs, however slow the machine is)
from ledger import Edits, Ledger
alice = Ledger.open(sys.argv[1], "main", "alice")
for n in range(30):
    alice.create(Edits(subject=f"t{n}"))
alice.materialize()
assert alice._carry
sys.stdout.flush()
if sys.argv[2] == "crash":
    os._exit(0)  # (a process that dies: what it carries is lost)
if sys.argv[2] == "gone":  # its data folder replaced by a file before it exits
    import shutil
    shutil.rmtree(alice.layout.root)
    alice.layout.root.write_text("not a folder")
"""


def _carry_then(home: Path, end: str) -> str:
    """Run ``CARRY_THEN``; its stderr."""
    import subprocess
    import sys

    from tests.conftest import ROOT, proc_env

    return subprocess.run([sys.executable, "-c", CARRY_THEN, str(home), end],
                          env=proc_env(home, PYTHONPATH=str(ROOT)), check=True,
                          capture_output=True, text=True).stderr  # fmt: skip


def test_a_long_lived_process_writes_what_it_carries_when_it_exits(home: Path) -> None:
    """Else the next command compares every file of the folder (4 s at 10k tasks)."""
    from ledger._settled import settled

    assert _carry_then(home, "exit") == ""
    assert settled(Layout.of(home, "main"))
    # and quietly gives up when its data folder is gone by then
    assert _carry_then(home.parent / "other", "gone") == ""


def test_stats_only_carried_count_as_known(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new list whose every stat is carried (no stats file written yet) is settled
    for the process carrying them: its passes stay one ``stat``, not a compare."""
    import ledger._carry as carry
    from ledger._settled import settled

    monkeypatch.setattr(carry, "FLUSH_S", 1e9)  # (carried however slow the machine is)
    alice = Ledger.open(home, "main", "alice")
    for n in range(5):
        alice.create(Edits(subject=f"t{n}"))
    layout = Layout.of(home, "main")
    assert alice._carry.stats  # type: ignore[union-attr]
    assert not list((layout.root / "view").glob("stats.*"))  # nothing written yet
    assert settled(layout, alice._carry)
    folder = layout.view.stat()  # the folder's stamp moves (a lock folder came and went):
    os.utime(layout.view, ns=(folder.st_atime_ns, folder.st_mtime_ns - 10**9))  # each file
    assert settled(layout, alice._carry)  # is compared with the stat carried for it
    assert not settled(layout)  # (for anyone else)


def test_stats_a_process_never_wrote_are_carried_by_the_next_long_lived_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that died carrying every file's stat: a watcher's first pass confirms
    each file, and carries (then writes) what it confirmed instead of confirming all
    of them again on every pass, for ever."""
    import ledger._baseline as baseline
    import ledger._carry as carry
    from ledger._settled import settled

    _carry_then(home, "crash")
    layout = Layout.of(home, "main")
    for path in layout.view.glob("*.json"):  # written long ago (a confirmation of a file
        os.utime(path, (path.stat().st_atime - 3600, path.stat().st_mtime - 3600))  # just
    assert not settled(layout)  # written is not carried: its stat may not show a change)
    monkeypatch.setattr(carry, "FLUSH_S", 1e9)
    watcher = Ledger.open(home, "main", "watcher")
    watcher.notice(["x"])  # (a pass, as a notification makes one)
    watcher.state()
    assert watcher._carry.stats  # type: ignore[union-attr]
    confirms = []
    real = baseline.Baselines.confirm
    monkeypatch.setattr(baseline.Baselines, "confirm",
                        lambda self, *a: confirms.append(a) or real(self, *a))  # fmt: skip
    watcher.notice(["x"])
    watcher.state()
    assert confirms == []  # the second pass trusts what the first one confirmed
    monkeypatch.setattr(carry, "FLUSH_S", 0.0)
    watcher.notice(["x"])
    watcher.state()
    assert settled(layout)


@pytest.mark.parametrize("on_disk", [True, False], ids=["stat-on-disk", "stat-only-carried"])
def test_a_carried_stat_never_hides_a_write_that_failed_after_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool
) -> None:
    """Alice (long-lived) carries her task file's stat; Bob's newer op on the task then
    fails to write the file (his pass removes the stat and leaves the folder pending).
    Alice's carry, written later (as when she exits), must not vouch for the old file:
    the next reader writes Bob's version. (Her file's stat was written before, which
    Bob's pass removes; or it was only ever carried, which his pass cannot touch.)"""
    import ledger._carry as carry
    from ledger._settled import flush

    monkeypatch.setattr(carry, "FLUSH_S", 1e9)  # (carried however slow the machine is)
    layout = Layout.of(home, "main")
    alice = Ledger.open(home, "main", "alice")
    alice.create(Edits(subject="another"))
    if on_disk:
        task = alice.create(Edits(subject="one"))
    assert alice._carry is not None
    view = layout.view.stat()  # a busy folder: its mtime too recent to trust its stamp
    os.utime(layout.view, ns=(view.st_atime_ns, view.st_mtime_ns + 3600 * 10**9))
    alice.materialize()
    flush(layout, alice._carry)  # (everything on disk: stats, the untrusted stamp)
    if on_disk:
        alice.update(task.id, Edits(subject="two"))
    else:
        task = alice.create(Edits(subject="two"))
    assert alice._carry.stats and alice._carry.stamp is None  # her file's stat, only
    _bob_fails_to_write(monkeypatch, home, task.id)
    assert json.loads((layout.view / f"{task.id}.json").read_text())["subject"] == "two"

    flush(layout, alice._carry)  # (alice exits)
    Ledger.open(home, "main", "carol", long_lived=False).state()
    assert json.loads((layout.view / f"{task.id}.json").read_text())["subject"] == "three"


def _age(path: Path) -> None:
    """Make a file old: a pass without Claude Code's lock may vouch for it."""
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))


def _subject_in_file(layout: Layout, task_id: str) -> str:
    return str(json.loads((layout.view / f"{task_id}.json").read_text())["subject"])


def _alice_wrote_two(monkeypatch: pytest.MonkeyPatch, home: Path) -> tuple[Layout, Ledger, Any]:
    """Alice (long-lived, carrying however slow the machine is) made a task "two";
    everything is on disk, and its file is old (a pass without the lock may vouch
    for it)."""
    import ledger._carry as carry
    from ledger._settled import flush

    monkeypatch.setattr(carry, "FLUSH_S", 1e9)
    layout = Layout.of(home, "main")
    alice = Ledger.open(home, "main", "alice")
    task = alice.create(Edits(subject="two"))
    assert alice._carry is not None
    flush(layout, alice._carry)
    _age(layout.view / f"{task.id}.json")
    return layout, alice, task


def _the_next_reader_writes_bobs(
    home: Path, layout: Layout, task_id: str, *, stale: bool = True
) -> None:
    """The file still says "two" (``stale``); a new reader's pass writes Bob's "three"."""
    if stale:
        assert _subject_in_file(layout, task_id) == "two"
    Ledger.open(home, "main", "reader", long_lived=False).state()
    assert _subject_in_file(layout, task_id) == "three"


def _bob_fails_during_the_pass_of(
    monkeypatch: pytest.MonkeyPatch, home: Path, ledger: Ledger, task_id: str
) -> None:
    """Right after ``ledger``'s next pass over the folder has looked at the files (and
    before it writes what it found), Bob commits a newer version of the task and fails
    to write its file: his pass removes the file's stat and leaves the stamp pending."""
    from ledger._view import View

    real_pass = View._pass

    def pass_then_bob(self: View, *args: Any, **kwargs: Any) -> None:
        real_pass(self, *args, **kwargs)
        if self is ledger._view:
            monkeypatch.setattr(View, "_pass", real_pass)
            _bob_fails_to_write(monkeypatch, home, task_id)

    monkeypatch.setattr(View, "_pass", pass_then_bob)


def _bob_fails_to_write(monkeypatch: pytest.MonkeyPatch, home: Path, task_id: str) -> None:
    """Bob commits a newer version of the task ("three") and fails to write its file
    (an I/O error): his pass removes the file's stat and leaves the stamp pending."""
    from ledger._fs import Dir

    real_write = Dir.write_atomic

    def failing(self: Dir, name: str, data: bytes, mode: int = 0o644) -> os.stat_result:
        if name == f"{task_id}.json":
            raise OSError(5, "Input/output error")
        return real_write(self, name, data, mode)

    monkeypatch.setattr(Dir, "write_atomic", failing)
    bob = Ledger.open(home, "main", "bob", long_lived=False)
    bob.update(task_id, Edits(subject="three"))
    assert any("task files not updated" in w for w in bob.warnings), bob.warnings
    monkeypatch.setattr(Dir, "write_atomic", real_write)


@pytest.mark.parametrize("due", [False, True], ids=["carried", "written-by-that-pass"])
def test_a_pass_never_vouches_for_a_file_whose_write_failed_during_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, due: bool
) -> None:
    """Alice's pass finds her task's file current; Bob's newer op then fails to write
    it before her pass ends. What her pass found is not written (or carried, then
    written when she exits) over Bob's removal: the next reader writes his version."""
    import ledger._carry as carry
    from ledger._settled import flush

    layout, alice, task = _alice_wrote_two(monkeypatch, home)
    _bob_fails_during_the_pass_of(monkeypatch, home, alice, task.id)
    if due:
        monkeypatch.setattr(carry, "FLUSH_S", 0.0)  # (her pass writes what it carries)
    alice.materialize()
    flush(layout, alice._carry)  # (alice exits)
    _the_next_reader_writes_bobs(home, layout, task.id)


def test_a_short_pass_never_stamps_over_a_write_that_failed_during_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same without a carry: Carol's one-shot pass read the stats file before
    Bob's write failed and removed his file's stat from it; she writes that stats
    file again (for another file she confirmed) and her stamp after his."""
    maker = Ledger.open(home, "main", "maker", long_lived=False)
    seen: dict[str, Any] = {}
    while True:  # two tasks whose files share a stats file
        made = maker.create(Edits(subject="two"))
        if made.id[:2] in seen:
            break
        seen[made.id[:2]] = made
    task, other = seen[made.id[:2]], made
    layout = Layout.of(home, "main")
    for path in layout.view.glob("*.json"):
        _age(path)
    maker.materialize()  # (the old files' stats on disk)
    path = layout.view / f"{other.id}.json"  # the other file: same task, other bytes
    path.write_bytes(path.read_bytes().replace(b'"two"', b'"two" '))
    _age(path)
    carol = Ledger.open(home, "main", "carol", long_lived=False)
    _bob_fails_during_the_pass_of(monkeypatch, home, carol, task.id)
    carol.materialize()
    _the_next_reader_writes_bobs(home, layout, task.id)


def test_a_pass_that_only_confirms_never_vouches_for_a_failed_write(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, in a busy folder whose stamp a pass leaves as it was: Alice's pass
    only confirms files (nothing of its own to write but what her carry holds, due)."""
    import ledger._carry as carry
    from ledger._settled import flush

    layout, alice, task = _alice_wrote_two(monkeypatch, home)
    os.utime(layout.view)  # Claude Code just wrote something: the folder is busy
    Ledger.open(home, "main", "carol", long_lived=False).state()
    stamp = json.loads((layout.root / "view" / "folder.json").read_text())
    assert stamp["folder"] is None and stamp["pending"] is False  # (untrusted, settled)
    _bob_fails_during_the_pass_of(monkeypatch, home, alice, task.id)
    monkeypatch.setattr(carry, "FLUSH_S", 0.0)
    alice.materialize()
    flush(layout, alice._carry)
    _the_next_reader_writes_bobs(home, layout, task.id)


def test_an_idle_pass_never_writes_a_carry_a_failed_write_overtook(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice carries her file's confirmation; a pass of hers with nothing of its own
    (``settled()``, say) is open while Bob's newer write of that file fails, and her
    carry falls due at its end: it is dropped, not written."""
    import ledger._carry as carry
    from ledger._baseline import Baselines
    from ledger._settled import flush

    layout, alice, task = _alice_wrote_two(monkeypatch, home)
    alice.materialize()  # (confirms her old file: carried, not written)
    assert alice._carry.stats
    with Baselines(layout, alice._carry):
        _bob_fails_to_write(monkeypatch, home, task.id)
        monkeypatch.setattr(carry, "FLUSH_S", 0.0)
    flush(layout, alice._carry)
    _the_next_reader_writes_bobs(home, layout, task.id, stale=False)
