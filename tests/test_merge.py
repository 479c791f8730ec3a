"""SPEC section 3: the merge promises, shown with replicas that only exchange log files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import Edits, Status
from ledger._replay import Replayer
from tests.replicas import Clock, Replica, replay_dir


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Replica, Replica, str]:
    """Two replicas that both know one task."""
    a = Replica(tmp_path / "a", "alice", Clock(1_800_000_000_000))
    b = Replica(tmp_path / "b", "bob", Clock(1_800_000_000_000))
    task = a.ledger.create(Edits(subject="start", description="one\ntwo\nthree\n"))
    a.send_to(b)
    return a, b, task.id


def exchange(a: Replica, b: Replica) -> None:
    a.send_to(b)
    b.send_to(a)


def test_concurrent_same_field_writes_resolve_identically_greater_hlc_wins(pair) -> None:
    a, b, tid = pair
    a.clock.now += 10
    b.clock.now += 20  # bob writes later by the clock
    a.ledger.update(tid, Edits(subject="alice's"))
    b.ledger.update(tid, Edits(subject="bob's"))
    exchange(a, b)
    assert a.ledger.get(tid).subject == b.ledger.get(tid).subject == "bob's"
    assert a.ledger.state() == b.ledger.state()


def test_equal_hlc_is_won_by_the_greater_session(pair) -> None:
    a, b, tid = pair
    b.clock.now = a.clock.now
    a.ledger.update(tid, Edits(owner="alice"))
    b.ledger.update(tid, Edits(owner="bob"))
    exchange(a, b)
    assert a.ledger.get(tid).owner == b.ledger.get(tid).owner == "bob"


def test_a_causally_later_write_wins_even_with_its_clock_behind(pair) -> None:
    a, b, tid = pair
    a.clock.now += 3_600_000  # alice's clock runs an hour fast
    a.ledger.update(tid, Edits(status=Status.IN_PROGRESS))
    a.send_to(b)  # bob sees alice's write, then overrides it
    b.ledger.update(tid, Edits(status=Status.COMPLETED))
    exchange(a, b)
    assert a.ledger.get(tid).status is Status.COMPLETED
    assert b.ledger.get(tid).status is Status.COMPLETED
    assert b.clock.now < a.clock.now  # despite bob's wall clock being behind


def test_the_losing_value_stays_recoverable(pair) -> None:
    a, b, tid = pair
    b.clock.now += 5
    a.ledger.update(tid, Edits(subject="loses"))
    b.ledger.update(tid, Edits(subject="wins"))
    exchange(a, b)
    assert a.ledger.get(tid).subject == "wins"
    # the document keeps alice's entry next to bob's ...
    replayer = Replayer(a.logs)
    replayer.catch_up()
    raw = replayer.shards.doc(tid[:2]).extract()[tid]
    subjects = sorted(v for k, v in raw.items() if k.startswith("f:subject:"))
    assert any('"loses"' in s for s in subjects)
    assert any('"wins"' in s for s in subjects)
    # ... and the audit trail shows both writes, each with what its writer saw.
    writes = [(r.session, r.fields["subject"]) for r in a.ledger.history(tid) if r.kind == "update"]
    created = a.ledger.get(tid).created
    assert created is not None
    assert sorted(writes, key=lambda w: w[0]) == [
        ("alice", {"old": "start", "new": "loses", "base": created.ref}),
        ("bob", {"old": "start", "new": "wins", "base": created.ref}),
    ]


def test_a_write_records_the_write_it_saw(pair) -> None:
    a, b, tid = pair
    created = a.ledger.get(tid).created
    assert created is not None
    b.ledger.update(tid, Edits(subject="next"))
    (record,) = b.ledger.history(tid, session="bob")
    assert record.fields["subject"] == {"old": "start", "new": "next", "base": created.ref}


def test_different_fields_metadata_notes_and_edges_all_survive(pair, tmp_path: Path) -> None:
    a, b, tid = pair
    blocker_a = a.ledger.create(Edits(subject="blocker a"))
    blocker_b = b.ledger.create(Edits(subject="blocker b"))
    exchange(a, b)
    a.ledger.update(tid, Edits(status=Status.IN_PROGRESS, set_meta={"from_a": 1}))
    b.ledger.update(tid, Edits(owner="bob", set_meta={"from_b": 2}))
    a.ledger.note(tid, "note from a")
    b.ledger.note(tid, "note from b")
    a.ledger.update(tid, Edits(add_blocked_by=[blocker_a.id]))
    b.ledger.update(tid, Edits(add_blocked_by=[blocker_b.id]))
    exchange(a, b)
    for replica in (a, b):
        task = replica.ledger.get(tid)
        assert task.status is Status.IN_PROGRESS
        assert task.owner == "bob"
        assert task.meta() == {"from_a": 1, "from_b": 2}
        assert sorted(n.text for n in task.notes) == ["note from a", "note from b"]
        assert sorted(task.blocked_by) == sorted([blocker_a.id, blocker_b.id])
        assert tid in replica.ledger.get(blocker_a.id).blocks
        assert tid in replica.ledger.get(blocker_b.id).blocks
    assert a.ledger.state() == b.ledger.state()


def test_concurrent_description_edits_of_different_lines_both_survive(pair) -> None:
    a, b, tid = pair
    a.ledger.update(tid, Edits(description="ONE (alice)\ntwo\nthree\n"))
    b.ledger.update(tid, Edits(description="one\ntwo\nthree (bob)\n"))
    exchange(a, b)
    expected = "ONE (alice)\ntwo\nthree (bob)\n"
    assert a.ledger.get(tid).description == b.ledger.get(tid).description == expected


def test_concurrent_unicode_edits_of_one_line_merge_at_character_boundaries(pair) -> None:
    a, b, tid = pair
    a.ledger.update(tid, Edits(description="ünë\ntwo\nthree\n"))
    exchange(a, b)
    a.ledger.update(tid, Edits(description="ünë 😀\ntwo\nthree\n"))
    b.ledger.update(tid, Edits(description="🎉 ünë\ntwo\nthree\n"))
    exchange(a, b)
    assert (
        a.ledger.get(tid).description == b.ledger.get(tid).description == "🎉 ünë 😀\ntwo\nthree\n"
    )


def test_concurrent_edges_that_form_a_cycle_drop_the_later_edge_everywhere(pair) -> None:
    a, b, tid = pair
    other = a.ledger.create(Edits(subject="other"))
    exchange(a, b)
    a.ledger.update(tid, Edits(add_blocked_by=[other.id]))  # other -> tid
    b.clock.now += 100
    b.ledger.update(other.id, Edits(add_blocked_by=[tid]))  # tid -> other, later
    exchange(a, b)
    for replica in (a, b):
        state = replica.ledger.state()
        assert state.tasks[tid].blocked_by == (other.id,)
        assert state.tasks[other.id].blocked_by == ()
        assert state.ignored_edges == ((tid, other.id),)


def test_delete_is_a_tombstone_that_beats_a_concurrent_edit(pair) -> None:
    a, b, tid = pair
    a.ledger.delete(tid)
    b.clock.now = a.clock.now + 50
    b.ledger.update(tid, Edits(subject="edited meanwhile"))
    exchange(a, b)
    for replica in (a, b):
        task = replica.ledger.get(tid)
        assert task.deleted
        assert task.subject == "edited meanwhile"  # the edit is kept, under the tombstone
        assert tid not in [t.id for t in replica.ledger.tasks()]
        assert [r.kind for r in replica.ledger.history(tid)] == ["create", "delete", "update"]


def test_ids_from_many_writers_never_collide(tmp_path: Path) -> None:
    replicas = [Replica(tmp_path / f"r{i}", f"s{i}") for i in range(8)]
    ids = [r.ledger.create(Edits(subject=f"t{n}")).id for n in range(5) for r in replicas]
    assert len(set(ids)) == len(ids) == 40
    for r in replicas[1:]:
        r.send_to(replicas[0])
    assert len(replay_dir(replicas[0].logs).tasks) == 40


def test_edits_decided_on_the_same_state_merge_on_one_filesystem(pair) -> None:
    a, _, tid = pair
    alice = a.ledger
    carol = Replica(a.home, "carol").ledger  # another session on the same folder
    seen = alice.state()
    carol.update(tid, Edits(description="ONE\ntwo\nthree\n", subject="carol's"))
    task = alice.update(
        tid, Edits(description="one\ntwo\nTHREE\n", subject="alice's"), based_on=seen
    )
    assert task.description == "ONE\ntwo\nTHREE\n"
    assert task.subject == "alice's"
    # alice did not see carol's subject: her record says what she replaced
    (record,) = alice.history(tid, session="alice")[-1:]
    assert record.fields["subject"]["old"] == "start"  # type: ignore[index]
