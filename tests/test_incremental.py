"""What keeps a long-lived process's work per op small stays correct.

* the list folders ``Dir.open_below`` holds open (``_held``): a folder that
  was removed, replaced or swapped for a link is never written through;
* the rows a long-lived index hands out as an ``Overlay``: every state keeps
  the rows it was handed, in creation order, equal to a fresh replay's;
* shard documents evicted by the byte budget come back the same;
* a snapshot's decoded shard tasks are shared, its clocks copied.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import Edits, Layout, Ledger, StorageError, _shards
from ledger._held import HELD
from ledger._snapshot import SHARDS_KEPT, Snapshot


def _fresh(home: Path) -> Ledger:
    return Ledger.open(home, "main", "reader", long_lived=False)


# ------------------------------------------------------------ held folders


def test_a_removed_list_folder_is_made_again_not_written_through(home: Path) -> None:
    layout = Layout.of(home, "main")
    held = layout.open("logs", create=True)  # (now held open by this process)
    assert held is not None
    held.close()
    shutil.rmtree(layout.root)  # (the held folder lives on, unnamed)
    folder = layout.open("logs", create=True)
    assert folder is not None
    with folder:
        folder.write_atomic("marker", b"here")
    assert (layout.logs / "marker").read_bytes() == b"here"


def test_a_list_folder_swapped_for_a_link_is_refused(home: Path, tmp_path: Path) -> None:
    layout = Layout.of(home, "main")
    folder = layout.open("logs", create=True)
    assert folder is not None
    folder.close()
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "logs").mkdir(parents=True)
    layout.root.rename(tmp_path / "moved")
    layout.root.symlink_to(elsewhere)
    with pytest.raises(StorageError):
        layout.open("logs")


def test_a_folder_replaced_under_the_same_name_is_the_one_opened(home: Path) -> None:
    layout = Layout.of(home, "main")
    first = layout.open("logs", create=True)
    assert first is not None
    first.close()
    layout.root.rename(layout.root.with_name("old"))
    (layout.root / "logs").mkdir(parents=True)
    (layout.root / "logs" / "marker").write_bytes(b"new")
    folder = layout.open("logs")
    assert folder is not None
    with folder:
        assert folder.names() == ["marker"]


def test_every_handle_of_a_held_folder_lists_it_whole(home: Path) -> None:
    layout = Layout.of(home, "main")
    layout.view.mkdir(parents=True)
    for n in range(3000):  # (more than one read of the folder's entries)
        (layout.view / f"{n}.json").write_bytes(b"{}")
    first = layout.open_view()
    assert first is not None
    first.close()  # (now held)
    one, two = layout.open_view(), layout.open_view()
    assert one is not None and two is not None
    with one, two, os.scandir(one.fd) as entries:
        next(entries)  # (a listing under way)
        assert len(two.names()) == 3000


def test_held_folders_are_bounded(tmp_path: Path) -> None:
    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = count()
    for n in range(3 * HELD.MAX):
        folder = Layout.of(tmp_path / f"home{n}", "main").open("logs", create=True)
        assert folder is not None
        folder.close()
    assert count() - before <= HELD.MAX


# ------------------------------------------------------------ handed-out rows

steps = st.lists(st.tuples(st.booleans(), st.integers(0, 1000)), min_size=1, max_size=45)


@given(steps=steps)
def test_every_state_keeps_the_rows_it_was_handed(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[bool, int]]
) -> None:
    home = tmp_path_factory.mktemp("home")
    ledger = Ledger.open(home, "main", "writer")
    ids: list[str] = []
    handed = []
    for new, n in steps:
        if new or not ids:
            ids.append(ledger.create(Edits(subject=f"task {n}")).id)
        else:
            ledger.update(ids[n % len(ids)], Edits(subject=f"subject {n}"))
        state = ledger.state()
        fresh = _fresh(home).state()
        assert list(state.rows.items()) == list(fresh.rows.items())
        assert len(state.rows) == len(fresh.rows) == len(ids)
        assert all(i in state.rows and state.rows.get(i) == fresh.rows[i] for i in ids)
        handed.append((state, list(fresh.rows.items())))
    for state, rows in handed:  # (later writes changed none of them)
        assert list(state.rows.items()) == rows
        assert list(state.rows) == [i for i, _ in rows]


# ------------------------------------------------------------ shard budget


def test_documents_evicted_by_the_budget_come_back_the_same(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_shards, "DOCS_BYTES", 1)
    monkeypatch.setattr(_shards, "MIN_DOCS", 2)
    ledger = Ledger.open(home, "main", "writer")
    ids = [ledger.create(Edits(subject=f"task {n}")).id for n in range(24)]
    assert len({i[:2] for i in ids}) > 4  # (spread over more shards than are kept)
    for round_ in range(3):
        for n, task_id in enumerate(ids):
            ledger.update(task_id, Edits(set_meta={"round": round_, "n": n}))
    loaded = [s for s in ledger.reader.replayer.shards._slots.values() if s.doc is not None]
    assert len(loaded) <= 3  # (the budget held: the rest are encoded)
    others = [i for i in ids if i[:2] != ids[0][:2]][:6]
    ledger.update(ids[0], Edits(add_blocks=others))  # (one op, more shards than are kept)
    assert ledger.state() == _fresh(home).state()
    assert all(dict(ledger.get(i).metadata)["round"] == 2 for i in ids)
    assert set(ledger.get(ids[0]).blocks) == set(others)


# ------------------------------------------------------------ snapshot memo


def test_a_snapshots_shard_tasks_are_shared_and_its_clocks_copied(home: Path) -> None:
    ledger = Ledger.open(home, "main", "writer", long_lived=False)
    for n in range(40):
        ledger.create(Edits(subject=f"task {n}"))
    layout = Layout.of(home, "main")
    folder = layout.open("cache")
    assert folder is not None
    snapshot = Snapshot(folder)
    head = snapshot.read_head()
    assert head is not None and len(head.shards) > SHARDS_KEPT
    shard, token = next(iter(head.shards.items()))
    tasks, clocks = snapshot.shard_tasks(shard, token)
    clocks.clear()
    again, clocks_again = snapshot.shard_tasks(shard, token)
    assert again is tasks and clocks_again  # (shared; the caller's change to clocks is not)
    for other, other_token in list(head.shards.items())[1 : SHARDS_KEPT + 1]:
        snapshot.shard_tasks(other, other_token)
    reread, _ = snapshot.shard_tasks(shard, token)
    assert reread is not tasks and reread.tasks() == tasks.tasks()  # (dropped: read again)
    snapshot.close()


def test_a_save_writes_the_shard_tasks_it_did_not_change_as_it_read_them(home: Path) -> None:
    """A shard's tasks file holds one task a line: a save copies the ones that did not
    change, byte for byte, instead of encoding them again; an older file (all on one
    line) reads the same, and its tasks are encoded when saved."""
    import json

    from ledger._cache_format import Partials
    from ledger._shard_file import _encoded

    ledger = Ledger.open(home, "main", "writer", long_lived=False)
    for n in range(40):
        ledger.create(Edits(subject=f"task {n}"))
    folder = Layout.of(home, "main").open("cache")
    assert folder is not None
    snapshot = Snapshot(folder)
    head = snapshot.read_head()
    assert head is not None
    shard, token = max(head.shards.items(), key=lambda kv: len(snapshot.shard_tasks(*kv)[0]))
    tasks, _ = snapshot.shard_tasks(shard, token)
    data = snapshot.shard_dir(create=False).read(f"{shard}.{token}.json")
    assert data is not None and len(tasks) >= 2 and data.count(b",\n") == len(tasks) - 1
    assert tasks.out() == [json.dumps(t, separators=(",", ":")).encode()
                           for t in json.loads(data)["tasks"]]  # fmt: skip
    assert tasks._bytes.keys() == set(tasks)  # (kept as read: nothing encoded again)
    one_line = data.replace(b",\n", b",")  # an older file's: no text kept
    assert _encoded(one_line, tasks._items) is None
    old = Partials(dict(tasks._items))
    assert old.out() == tasks.out() and old.tasks() == tasks.tasks()
    snapshot.close()


def test_an_older_shard_file_with_every_task_on_one_line_is_read_whole(home: Path) -> None:
    """A shard file saved before tasks went one a line (the same cache version) holds
    every task on one line: it is read whole, with no warning, and a write of a task
    that is not its first works on it."""
    import json
    import zlib

    writer = Ledger.open(home, "main", "writer", long_lived=False)
    ids = [writer.create(Edits(subject=f"task {n}")).id for n in range(40)]
    cache = Layout.of(home, "main").root / "cache"
    head = json.loads((cache / "head.json").read_bytes())
    shard = max(head["shards"], key=lambda s: sum(t[:2] == s for t in ids))
    token = head["shards"][shard]
    data = (cache / "shards" / f"{shard}.{token}.json").read_bytes()
    old = data.replace(b",\n", b",")  # what a save wrote then
    new = token[:8] + f"{zlib.crc32(old):08x}"
    (cache / "shards" / f"{shard}.{new}.json").write_bytes(old)
    os.link(cache / "shards" / f"{shard}.{token}.bin", cache / "shards" / f"{shard}.{new}.bin")
    head["shards"][shard] = new
    (cache / "head.json").write_text(json.dumps(head))
    later = [t["id"] for t in json.loads(data)["tasks"]][1:]
    assert later

    reader = _fresh(home)
    assert {t.id for t in reader.state().live()} == set(ids)
    assert not any("broken" in w for w in reader.warnings), reader.warnings
    other = Ledger.open(home, "main", "other", long_lived=False)
    other.update(later[-1], Edits(subject="changed"))
    assert not any("broken" in w for w in other.warnings), other.warnings
    assert _fresh(home).get(later[-1]).subject == "changed"


@pytest.mark.parametrize(
    "damage",
    [
        "a task line that is not JSON",
        "a line shorter than its id",
        "a task of another shard",
        "a task twice",
        "bad clocks",
    ],
)
def test_a_shard_file_read_line_by_line_refuses_what_is_damaged(home: Path, damage: str) -> None:
    """A shard's tasks are read one a line, each parsed only when asked for: a
    damaged file, whose checksum holds, is still found out -- when the task is read,
    or at once for ids and clocks -- and the state is read from the logs instead."""
    import json
    import zlib

    writer = Ledger.open(home, "main", "writer", long_lived=False)
    ids = [writer.create(Edits(subject=f"task {n}", set_meta={"n": n})).id for n in range(40)]
    want = {t.id: t for t in _fresh(home).state().live()}
    cache = Layout.of(home, "main").root / "cache"
    head = json.loads((cache / "head.json").read_bytes())
    shard = max(head["shards"], key=lambda s: sum(t[:2] == s for t in ids))
    token = head["shards"][shard]
    data = (cache / "shards" / f"{shard}.{token}.json").read_bytes()
    lines = data.split(b",\n")
    assert len(lines) >= 2 and lines[0].startswith(b'{"tasks":[{"id":"')
    if damage == "a task line that is not JSON":
        lines[1] = lines[1][:40]
    elif damage == "a line shorter than its id":
        lines[1] = lines[1][:20]
    elif damage == "a task of another shard":
        other = next(t for t in ids if t[:2] != shard)
        lines[1] = lines[1][:7] + other.encode() + lines[1][23:]
    elif damage == "a task twice":
        lines[1] = lines[0][len(b'{"tasks":[') :]
    else:
        lines[-1] = lines[-1].replace(b'"declared":{', b'"declared":{"zz":1,')
    bad = b",\n".join(lines)
    new = token[:8] + f"{zlib.crc32(bad):08x}"
    (cache / "shards" / f"{shard}.{new}.json").write_bytes(bad)
    os.link(cache / "shards" / f"{shard}.{token}.bin", cache / "shards" / f"{shard}.{new}.bin")
    head["shards"][shard] = new
    (cache / "head.json").write_text(json.dumps(head))

    reader = _fresh(home)
    got = {t.id: t for t in reader.state().live()}
    assert got == want
    assert any("derived cache was broken" in w for w in reader.warnings), reader.warnings
    Ledger.open(home, "main", "later", long_lived=False).update(ids[0], Edits(subject="x"))
    assert _fresh(home).get(ids[0]).subject == "x"


# ------------------------------------------------------------ rows file checks


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (0, "ABCDEF0123456789"),  # an id in upper case
        (0, "0123456789abcde"),  # fifteen digits
        (0, "0123456789abcdeg"),  # a letter past f
        (0, "0123456789abcde\n"),
        (0, 7),
        (4, None),  # a subject that is not a string
        (5, 1),  # deleted: a number, not a bool
        (7, 3),  # lease holder: str or None
        (11, None),  # a session that is not a string
    ],
)
def test_a_malformed_rows_column_is_refused(column: int, value: object) -> None:
    from ledger._cache_format import rows_in, rows_out
    from ledger._state import Row

    rows = [Row(f"{n:016x}", f"{n:04x}", "pending", "", f"task {n}", False, None, None, 0,
                (1, n, "s", "w")) for n in range(3)]  # fmt: skip
    columns = rows_out(rows)
    assert rows_in(columns) == rows
    columns[column][1] = value
    with pytest.raises(ValueError, match="malformed"):
        rows_in(columns)
