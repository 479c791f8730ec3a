"""The snapshot cache is derived: whatever happens to it, readers get the full replay's state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Edits, Layout, Ledger, LedgerError, Replayer, State, Status

ROOT = Path(__file__).resolve().parent.parent
LIST = "snap"


def canonical(state: State) -> str:
    """Everything a reader can see, as one string (tasks are frozen dataclasses)."""
    tasks = sorted(state.tasks.items())
    rows = sorted(state.rows.items())
    return repr((tasks, rows))


def full_replay(home: Path) -> str:
    """The state from every log, from the first byte, with no cache."""
    replayer = Replayer(Layout.of(home, LIST).logs)
    replayer.catch_up()
    return canonical(replayer.state())


def fresh_reader(home: Path) -> str:
    return canonical(Ledger.open(home, LIST, "reader").state())


def current_snapshots(home: Path) -> list[Path]:
    """The pycrdt snapshot files the cache's head points at."""
    cache = Layout.of(home, LIST).root / "cache"
    head = json.loads((cache / "head.json").read_bytes())
    return [cache / "shards" / f"{s}.{t}.bin" for s, t in sorted(head["shards"].items())]


def build(home: Path) -> list[str]:
    """A ledger with every kind of op from three sessions; each op by a fresh Ledger."""

    def by(session: str) -> Ledger:
        return Ledger.open(home, LIST, session)

    ids = [by("alice").create(Edits(subject=f"task {n}", description=f"line {n}\n")).id
           for n in range(40)]  # fmt: skip
    by("bob").update(ids[1], Edits(add_blocked_by=[ids[0]], set_meta={"k": [1, {"a": None}]}))
    by("carol").note(ids[2], "handoff")
    by("alice").claim(ids[3], lease_seconds=600)
    by("bob").update(ids[4], Edits(description="line 4\nmore\n", status=Status.COMPLETED))
    by("carol").delete(ids[5])
    by("alice").release(ids[3])
    by("bob").claim(ids[6])
    return ids


def test_a_deleted_cache_is_rebuilt_with_identical_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build(home)
    reference = full_replay(home)
    assert fresh_reader(home) == reference  # from the cache
    shutil.rmtree(Layout.of(home, LIST).root / "cache")
    assert fresh_reader(home) == reference  # rebuilt from the logs
    assert ((Layout.of(home, LIST).root / "cache") / "head.json").exists()
    assert fresh_reader(home) == reference  # from the rebuilt cache


def test_corrupted_snapshots_are_ignored_and_rebuilt_with_identical_state(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    ids = build(home)
    shards = (Layout.of(home, LIST).root / "cache") / "shards"
    assert len(list(shards.glob("*.bin"))) > 5
    damages = {
        "garbage": lambda data: b"\x00\xff" * 40,
        "empty": lambda data: b"",
        "truncated": lambda data: data[: len(data) // 2],
        "one byte flipped": lambda data: data[:-3] + bytes([data[-3] ^ 0x55]) + data[-2:],
    }
    live = [i for i in ids if i != ids[5]]
    for what, damage in damages.items():
        for n in range(4):
            # a rebuild writes every snapshot anew; take shards that hold a live task
            path = [p for p in current_snapshots(home) if any(i[:2] == p.name[:2] for i in live)][n]
            original = path.read_bytes()
            path.write_bytes(damage(original))
            # A write needs the shard's snapshot: it notices the damage and rebuilds.
            target = next(i for i in live if i.startswith(path.name[:2]))
            writer = Ledger.open(home, LIST, "dave")
            writer.note(target, f"after {what}")
            assert any("cache" in w and "rebuilt" in w for w in writer.warnings), what
            reference = full_replay(home)
            assert fresh_reader(home) == reference, (what, path.name)
            assert f"after {what}" in reference
    # A snapshot of another shard put in the place of this one (valid pycrdt, wrong content).
    a, b = [p for p in current_snapshots(home) if any(i[:2] == p.name[:2] for i in live)][:2]
    a_data, b_data = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_data)
    b.write_bytes(a_data)
    target = next(i for i in live if i.startswith(a.name[:2]))
    Ledger.open(home, LIST, "dave").note(target, "after a swap")
    assert fresh_reader(home) == full_replay(home)


def test_a_snapshot_written_by_one_process_reads_the_same_in_another(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build(home)
    code = (
        "import sys; from pathlib import Path; from ledger import Ledger;"
        "from tests.test_snapshot import canonical, LIST;"
        "print(canonical(Ledger.open(Path(sys.argv[1]), LIST, 'other').state()))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cached = subprocess.run(
        [sys.executable, "-c", code, str(home)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.strip() == full_replay(home)
    # and that process read the cache (no log was read from its start)
    head = json.loads(((Layout.of(home, LIST).root / "cache") / "head.json").read_bytes())
    assert head["logs"], head


OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "create",
                "update",
                "note",
                "meta",
                "block",
                "claim",
                "release",
                "delete",
                "long-lived",
                "read",
            ]
        ),
        st.sampled_from(["alice", "bob", "carol"]),
        st.integers(min_value=0, max_value=30),
        st.text(max_size=12),
    ),
    min_size=3,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_cache_plus_tails_equals_full_replay_over_random_ops(tmp_path: Path, ops: list) -> None:  # type: ignore[type-arg]
    """Each op is a fresh Ledger (a CLI process: it writes the cache at once), or a
    long-lived one (it defers cache writes, so readers find tails past the head).
    Whenever a fresh reader looks, it sees exactly the full replay's state."""
    random_ops(tmp_path, ops)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_spread_saves_plus_tails_equal_full_replay_over_random_ops(
    tmp_path: Path,
    ops: list,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same, with the long-lived ledger saving on every call, two shards at a
    time: its heads name shard files staged over several calls."""
    import ledger._reader as reader
    import ledger._save as save

    monkeypatch.setattr(reader, "_SAVE_EVERY_S", 0.0)
    monkeypatch.setattr(save, "STAGE_BYTES", 1)
    random_ops(tmp_path, ops)


def random_ops(tmp_path: Path, ops: list) -> None:  # type: ignore[type-arg]
    home = tmp_path / f"h{os.urandom(4).hex()}"
    long_lived = Ledger.open(home, LIST, "erin")
    ids: list[str] = []
    for kind, session, n, text in ops:
        ledger = long_lived if kind == "long-lived" else Ledger.open(home, LIST, session)
        target = ids[n % len(ids)] if ids else None
        try:
            if kind in ("create", "long-lived") or target is None:
                ids.append(ledger.create(Edits(subject=text or "t", description=text)).id)
            elif kind == "update":
                ledger.update(target, Edits(description=text + "\n", subject=text or "s"))
            elif kind == "note":
                ledger.note(target, text or "n")
            elif kind == "meta":
                ledger.update(target, Edits(set_meta={text or "k": n}))
            elif kind == "block":
                ledger.update(target, Edits(add_blocked_by=[ids[(n * 7 + 1) % len(ids)]]))
            elif kind == "claim":
                ledger.claim(target, lease_seconds=60)
            elif kind == "release":
                ledger.release(target, force=True)
            elif kind == "delete":
                ledger.delete(target, force=True)
            else:
                assert fresh_reader(home) == full_replay(home)
        except LedgerError:
            pass  # refused requests (a cycle, a deleted task, a held claim) change nothing
    assert fresh_reader(home) == full_replay(home)
    shutil.rmtree(Layout.of(home, LIST).root / "cache")
    assert fresh_reader(home) == full_replay(home)


def test_unreferenced_cache_files_are_collected_at_most_once_a_minute(tmp_path: Path) -> None:
    """Whichever process saves collects files no head names (once past their grace
    period), and not again for a minute whoever saves: ``.collected`` says when."""
    import time

    home = tmp_path / "home"
    ledger = Ledger.open(home, LIST, "alice", long_lived=False)
    task = ledger.create(Edits(subject="first"))
    cache = Layout.of(home, LIST).root / "cache"
    old = time.time() - 3600

    def stale(name: str) -> Path:
        path = cache / name
        path.write_bytes(b"{}")
        os.utime(path, (old, old))
        return path

    marker = cache / ".collected"
    os.utime(marker, (old, old))  # the last collection was an hour ago
    first = stale("rows.0123456789ab.json")
    Ledger.open(home, LIST, "bob", long_lived=False).update(task.id, Edits(subject="2"))
    assert not first.exists()
    second = stale("rows.ba9876543210.json")
    Ledger.open(home, LIST, "carol", long_lived=False).update(task.id, Edits(subject="3"))
    assert second.exists()  # collected less than a minute ago
    os.utime(marker, (old, old))
    Ledger.open(home, LIST, "dave", long_lived=False).update(task.id, Edits(subject="4"))
    assert not second.exists()
    assert fresh_reader(home) == full_replay(home)


def test_rows_deltas_pile_up_then_compact_and_read_back_in_creation_order(
    tmp_path: Path,
) -> None:
    """Each one-shot write appends a rows delta; past ``MAX_SEGMENTS`` the rows are
    written as one segment again. A task created with an older stamp than the rows
    before it (a session whose clock is behind) still reads back in creation order."""
    from ledger._snapshot import MAX_SEGMENTS

    home = tmp_path / "home"
    cache = Layout.of(home, LIST).root / "cache"

    def segments() -> int:
        return len(json.loads((cache / "head.json").read_bytes())["rows"])

    def write(n: int) -> None:
        session, clock = ("behind", lambda: 1_000 + n) if n % 5 == 4 else ("now", None)
        ledger = Ledger.open(home, LIST, session, long_lived=False, **(
            {"clock": clock} if clock else {}))  # fmt: skip
        ledger.create(Edits(subject=f"task {n}"))

    seen = []
    for n in range(MAX_SEGMENTS + 4):
        write(n)
        seen.append(segments())
        reference = Replayer(Layout.of(home, LIST).logs)
        reference.catch_up()
        state = Ledger.open(home, LIST, "reader", long_lived=False).state()
        assert list(state.rows) == list(reference.state().rows), n  # creation order
        assert canonical(state) == canonical(reference.state()), n
    drop = seen.index(1)  # compacted once the deltas reached the limit ...
    assert seen[drop - 1] == MAX_SEGMENTS + 1, seen
    assert seen[:drop] == list(range(seen[0], MAX_SEGMENTS + 2)), seen  # ... a delta per write
    assert seen[drop:] == list(range(1, len(seen) - drop + 1)), seen


def test_a_damaged_cached_task_is_recovered_as_of_the_state_that_read_it(
    tmp_path: Path,
) -> None:
    """A state handed out before another session's edit never answers with that edit,
    even when the task it asks for later turns out damaged in the cache: an update
    based on it merges against what it saw, and loses nothing."""
    import zlib

    from ledger._ids import shard_of

    home = tmp_path / "home"
    text = "one\ntwo\nthree\nfour\nfive"
    seen: dict[str, str] = {}
    while True:  # two tasks of one shard
        t = Ledger.open(home, LIST, "setup", long_lived=False).create(
            Edits(subject="t", description=text)).id  # fmt: skip
        if shard_of(t) in seen:
            x, y = seen[shard_of(t)], t
            break
        seen[shard_of(t)] = t
    Ledger.open(home, LIST, "reader", long_lived=False).state()
    cache = Layout.of(home, LIST).root / "cache"
    head = json.loads((cache / "head.json").read_bytes())
    shard, token = shard_of(y), head["shards"][shard_of(y)]
    raw = json.loads((cache / "shards" / f"{shard}.{token}.json").read_bytes())
    for item in raw["tasks"]:
        if item["id"] == y:
            item["st"] = "bogus"  # damaged, with a checksum that holds
    data = json.dumps(raw, separators=(",", ":")).encode()
    new = token[:8] + f"{zlib.crc32(data):08x}"
    (cache / "shards" / f"{shard}.{new}.json").write_bytes(data)
    os.link(cache / "shards" / f"{shard}.{token}.bin", cache / "shards" / f"{shard}.{new}.bin")
    head["shards"][shard] = new
    (cache / "head.json").write_text(json.dumps(head))

    alice = Ledger.open(home, LIST, "alice")
    before = alice.state()
    assert before.tasks[x].description == text  # (its shard read)
    Ledger.open(home, LIST, "bob", long_lived=False).update(
        y, Edits(description=text.replace("one", "ONE")))  # fmt: skip
    assert before.tasks[y].description == text  # as of the state, not bob's
    alice.update(y, Edits(description=text.replace("five", "FIVE")), based_on=before)
    final = Ledger.open(home, LIST, "z", long_lived=False).state()
    assert final.tasks[y].description == "ONE\ntwo\nthree\nfour\nFIVE"
