"""Replay: any order across logs, duplicates, gaps and garbage give one state."""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import Edits, LedgerError, Status
from ledger._log import encode_record, parse_record
from ledger._replay import Replayer
from tests.replicas import Clock, Replica, replay_dir

FIELDS = [
    "subject",
    "description",
    "status",
    "owner",
    "meta",
    "unmeta",
    "note",
    "dep",
    "undep",
    "delete",
]


def _apply(replica: Replica, draw: st.DrawFn) -> None:
    """One random op on one replica, against what that replica knows."""
    ledger = replica.ledger
    live = ledger.tasks()
    if not live or draw(st.integers(0, 5)) == 0:
        ledger.create(
            Edits(
                subject=draw(st.sampled_from(["a", "b", "c"])),
                description=draw(st.sampled_from(["", "one\ntwo\nthree\n"])),
            )
        )
        return
    task = draw(st.sampled_from(live))
    other = draw(st.sampled_from(live))
    what = draw(st.sampled_from(FIELDS))
    edits = {
        "subject": Edits(subject=draw(st.sampled_from(["x", "y", "zz"]))),
        "description": Edits(
            description=draw(st.sampled_from(["one\nTWO\nthree\n", "zero\none\ntwo\nthree\n", ""]))
        ),
        "status": Edits(status=draw(st.sampled_from(list(Status)))),
        "owner": Edits(owner=draw(st.sampled_from(["", "s0", "s1"]))),
        "meta": Edits(set_meta={draw(st.sampled_from("kl")): draw(st.integers(0, 3))}),
        "unmeta": Edits(unset_meta=[draw(st.sampled_from("kl"))]),
        "dep": Edits(add_blocked_by=[other.id]),
        "undep": Edits(remove_blocked_by=[other.id]),
    }
    try:
        if what == "note":
            ledger.note(task.id, draw(st.sampled_from(["n1", "n2"])))
        elif what == "delete":
            ledger.delete(task.id)
        else:
            ledger.update(task.id, edits[what])
    except LedgerError:
        pass  # a refused edit (a cycle, a self-dependency) appends nothing


@st.composite
def histories(draw: st.DrawFn, root: Path) -> list[Path]:
    """Records written by 3 replicas that sync at random moments; returns the log files."""
    base = Path(tempfile.mkdtemp(dir=root))
    replicas = [
        Replica(base / f"r{i}", f"s{i}", Clock(1_800_000_000_000 + draw(st.integers(-5000, 5000))))
        for i in range(3)
    ]
    replicas[0].ledger.create(Edits(subject="first", description="one\ntwo\nthree\n"))
    for _ in range(draw(st.integers(4, 20))):
        if draw(st.integers(0, 3)) == 0:
            a, b = draw(st.permutations(replicas))[:2]
            a.send_to(b)
        else:
            _apply(draw(st.sampled_from(replicas)), draw)
    return [p for r in replicas for p in r.own_logs()]


@settings(max_examples=40)
@given(data=st.data())
def test_same_records_any_order_with_duplicates_same_state(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    root = tmp_path_factory.mktemp("conv")
    logs = data.draw(histories(root))
    reference_dir = root / "reference"
    reference_dir.mkdir()
    lines: list[bytes] = []
    for path in logs:
        shutil.copyfile(path, reference_dir / path.name)
        lines += path.read_bytes().splitlines()
    reference = replay_dir(reference_dir)

    # Deal the same records into their writers' logs in any order, some more than
    # once; and copies of some into decoy logs of other sessions (whose records
    # are read only from their own logs), under the same writer ids.
    mixed = root / "mixed"
    mixed.mkdir()
    order = data.draw(st.permutations(range(len(lines))))
    extra = data.draw(st.lists(st.sampled_from(range(len(lines))), max_size=len(lines)))
    decoys = data.draw(st.lists(st.sampled_from(range(len(lines))), max_size=len(lines)))
    for n, index in enumerate([*order, *extra, *[-1 - d for d in decoys]]):
        record = json.loads(lines[index if index >= 0 else -1 - index])
        session = record["session"] if index >= 0 else f"decoy{n % 3}"
        with open(mixed / f"{session}.{record['writer']}.jsonl", "ab") as fh:
            fh.write(lines[index if index >= 0 else -1 - index] + b"\n")
    assert replay_dir(mixed) == reference
    # Idempotent: replaying the reference on top of itself changes nothing.
    replayer = Replayer(reference_dir)
    replayer.catch_up()
    replayer.cursors.clear()
    replayer.catch_up()
    assert replayer.state() == reference


def _two_writers(tmp_path: Path) -> tuple[Replica, Replica, str]:
    a, b = Replica(tmp_path / "a", "alice"), Replica(tmp_path / "b", "bob")
    task = a.ledger.create(Edits(subject="shared", description="one\ntwo\nthree\n"))
    a.send_to(b)
    return a, b, task.id


def test_a_writers_records_out_of_order_are_held_until_the_gap_fills(tmp_path: Path) -> None:
    a, _, task_id = _two_writers(tmp_path)
    for n in range(5):
        a.ledger.update(task_id, Edits(set_meta={f"k{n}": n}))
    (log,) = a.own_logs()
    lines = log.read_bytes().splitlines()
    expected = replay_dir(a.logs)
    shuffled_dir = tmp_path / "shuffled"
    shuffled_dir.mkdir()
    for perm in itertools.islice(itertools.permutations(lines), 0, 400, 37):
        target = shuffled_dir / log.name  # (shuffled within its own log)
        target.write_bytes(b"\n".join(perm) + b"\n")
        assert replay_dir(shuffled_dir) == expected
        target.unlink()


def test_a_gap_holds_back_later_records_and_says_so(tmp_path: Path) -> None:
    a, _, task_id = _two_writers(tmp_path)
    a.ledger.update(task_id, Edits(subject="second"))
    a.ledger.update(task_id, Edits(subject="third"))
    (log,) = a.own_logs()
    first, _second, third = log.read_bytes().splitlines()
    log.write_bytes(first + b"\n" + third + b"\n")
    replayer = Replayer(a.logs)
    replayer.catch_up()
    assert replayer.state().tasks[task_id].subject == "shared"
    assert list(replayer.held_back()) == [(parse_record(first).writer, 2, 1)]


def test_garbage_torn_and_future_lines_are_skipped_with_one_warning_each(tmp_path: Path) -> None:
    a, _, task_id = _two_writers(tmp_path)
    a.ledger.update(task_id, Edits(status=Status.COMPLETED))
    (log,) = a.own_logs()
    good = log.read_bytes()
    future = parse_record(good.splitlines()[0])
    future_line = encode_record(future).replace(b'{"v":1', b'{"v":99', 1)
    log.write_bytes(b"garbage\n" + good + future_line + b"\n" + b"[]\n" + b'{"v":1,"half')
    replayer = Replayer(a.logs)
    replayer.catch_up()
    problems = sorted((w.line, w.problem) for w in replayer.warnings)
    assert problems == [
        (1, "not JSON, skipped"),
        (4, "unknown format version 99, skipped"),
        (5, "not a JSON object, skipped"),
        (6, "torn last line (a writer died mid-append), skipped"),
    ]
    task = replayer.state().tasks[task_id]
    assert (task.subject, task.status) == ("shared", Status.COMPLETED)


def test_an_update_pycrdt_rejects_is_skipped_and_reported(tmp_path: Path) -> None:
    a, _, task_id = _two_writers(tmp_path)
    (log,) = a.own_logs()
    record = parse_record(log.read_bytes().splitlines()[0])
    shard = next(iter(record.updates))
    bad = encode_record(record._replace(seq=2, updates={shard: "AQ=="}))
    with open(log, "ab") as fh:
        fh.write(bad + b"\n")
    replayer = Replayer(a.logs)
    replayer.catch_up()
    assert [w.kind for w in replayer.warnings] == ["update"]
    assert "pycrdt rejected the update" in replayer.warnings[0].problem
    assert replayer.state().tasks[task_id].subject == "shared"


def test_replay_is_incremental(tmp_path: Path) -> None:
    a, _, task_id = _two_writers(tmp_path)
    replayer = Replayer(a.logs)
    assert len(replayer.catch_up(keep=True)) == 1
    assert len(replayer.catch_up(keep=True)) == 0
    a.ledger.note(task_id, "later")
    assert len(replayer.catch_up(keep=True)) == 1
    assert [n.text for n in replayer.state().tasks[task_id].notes] == ["later"]


def test_a_rejected_update_leaves_a_shortfall_that_is_reported(tmp_path: Path) -> None:
    a, _, task_id = _two_writers(tmp_path)
    a.ledger.update(task_id, Edits(subject="second"))
    a.ledger.update(task_id, Edits(subject="third"))
    (log,) = a.own_logs()
    lines = log.read_bytes().splitlines()
    middle = parse_record(lines[1])
    shard = next(iter(middle.updates))
    # valid base64, but not an update pycrdt can decode
    lines[1] = encode_record(middle._replace(updates={shard: "AAEC"}))
    log.write_bytes(b"\n".join(lines) + b"\n")
    replayer = Replayer(a.logs)
    replayer.catch_up()
    kinds = sorted(w.kind for w in replayer.warnings)
    assert kinds == ["clock", "update"]
    clock = next(w for w in replayer.warnings if w.kind == "clock")
    assert f"writer {middle.writer}" in clock.problem
    # what could be integrated is still there: the create
    assert replayer.state().tasks[task_id].subject == "shared"


def test_values_pycrdt_cannot_hold_round_trip_as_json(tmp_path: Path) -> None:
    a, b, task_id = _two_writers(tmp_path)
    huge = 2**70
    a.ledger.update(
        task_id, Edits(set_meta={"huge": huge, "int": 3, "float": 0.5, "nested": [1, {"x": None}]})
    )
    a.send_to(b)
    meta = b.ledger.get(task_id).meta()
    assert meta == {"huge": huge, "int": 3, "float": 0.5, "nested": [1, {"x": None}]}
    assert type(meta["int"]) is int


@given(
    st.lists(
        st.lists(st.text("ab0", min_size=4, max_size=7), max_size=6),
        max_size=8,
    )
)
def test_short_ids_kept_up_as_ids_arrive_equal_a_full_recount(batches: list[list[str]]) -> None:
    """``insert_prefixes`` touches only new ids and their neighbours, and the shorts
    it keeps are always exactly ``shortest_prefixes`` over every id so far."""
    from ledger._ids import insert_prefixes, shortest_prefixes

    ordered: list[str] = []
    kept: dict[str, str] = {}
    for batch in batches:
        kept.update(insert_prefixes(ordered, batch))
        assert ordered == sorted(set(ordered))
        assert kept == shortest_prefixes(ordered)
