"""SPEC section 5: exclusive claims with leases, with real racing processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Run, at_once, proc_env, racers, tl

slow = pytest.mark.slow


def create(run: Run, *args: str) -> str:
    result = run("create", *args, session="planner")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


#: rounds of the 24-session race; TASKLEDGER_STRESS=1 runs all 20
RACE_ROUNDS = 20 if os.environ.get("TASKLEDGER_STRESS") else 8


@slow
def test_24_sessions_race_for_one_task_20_rounds(home: Path) -> None:
    rounds = RACE_ROUNDS
    tasks = [
        tl(home, "create", f"round {r}", session="planner").stdout.strip() for r in range(rounds)
    ]
    sessions = [f"racer{n:02d}" for n in range(24)]
    first = time.time() + 4.0
    plans = [(s, [(first + r * 0.8, ["claim", tasks[r]]) for r in range(rounds)]) for s in sessions]
    results = racers(home, plans)
    winners = []
    for r, tid in enumerate(tasks):
        codes = {s: results[n][r][0] for n, s in enumerate(sessions)}
        assert sorted(codes.values()).count(0) == 1, (r, codes)
        assert set(codes.values()) == {0, 3}, (r, codes)
        (winner,) = [s for s, c in codes.items() if c == 0]
        winners.append(winner)
        for n, s in enumerate(sessions):
            if s != winner:
                assert f"is held by {winner}" in results[n][r][2], results[n][r][2]
        shown = json.loads(tl(home, "show", tid, "--json").stdout)
        assert shown["owner"] == winner
        assert shown["lease"]["holder"] == winner
        assert shown["status"] == "in_progress"
    assert tl(home, "verify").returncode == 0


@slow
def test_16_ready_claim_workers_over_10_tasks(home: Path) -> None:
    tasks = [tl(home, "create", f"job {n}", session="planner").stdout.strip() for n in range(10)]
    outcomes = at_once(
        home, [(f"worker{n:02d}", ["ready", "--claim", "--json"]) for n in range(16)]
    )
    won = [json.loads(o.stdout)["id"] for o in outcomes if o.returncode == 0]
    lost = [o for o in outcomes if o.returncode != 0]
    assert sorted(won) == sorted(tasks)  # each task claimed exactly once
    assert len(lost) == 6
    for outcome in lost:
        assert outcome.returncode == 3
        assert outcome.stderr == "Error: no ready task to claim\n"
    owners = {t["id"]: t["owner"] for t in json.loads(tl(home, "list", "--json").stdout)}
    winners = {json.loads(o.stdout)["id"]: o.args for o in outcomes if o.returncode == 0}
    assert len(set(owners.values())) == 10
    assert set(owners) == set(winners)


def test_a_one_second_lease_expires_and_the_task_is_claimable_again(run: Run) -> None:
    tid = create(run, "short lease")
    assert run("claim", tid, "--lease", "1", session="alice").exit_code == 0
    taken = run("claim", tid, session="bob")
    assert taken.exit_code == 3
    assert taken.stderr.startswith(f"Error: task {tid[:4]} is held by alice until ")
    assert [t["id"] for t in run.json("ready")] == []  # type: ignore[union-attr,index]
    time.sleep(1.1)
    assert [t["id"] for t in run.json("ready")] == [tid]  # type: ignore[union-attr,index]
    again = run("claim", tid, session="bob")
    assert again.exit_code == 0, again.stderr
    assert run.json("show", tid)["owner"] == "bob"  # type: ignore[index]


_HOLD = """
import sys, time
from ledger import Ledger
from ledger._claims import CLAIM, ClaimFolder
home, tid, mode = sys.argv[1], sys.argv[2], sys.argv[3]
ledger = Ledger.open(home, "main", "doomed")
if mode == "claimed":
    ledger.claim(tid, lease_seconds=2)
else:  # killed after winning the claim file, before its log append
    folder = ClaimFolder(ledger.layout, tid)
    number, _ = folder.latest()
    folder.publish(number, CLAIM, "doomed", ledger.clock() + 2000, ledger.clock())
print("holding", flush=True)
time.sleep(600)
"""


@slow
@pytest.mark.parametrize("mode", ["claimed", "claim-file-only"])
def test_a_sigkilled_claimant_blocks_only_until_its_lease_runs_out(home: Path, mode: str) -> None:
    tid = tl(home, "create", "contested", session="planner").stdout.strip()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(home), tid, mode],
        env=proc_env(home, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "holding\n"
    started = time.time()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    blocked = tl(home, "claim", tid, session="survivor", check=False)
    assert blocked.returncode == 3
    assert "held by doomed" in blocked.stderr
    time.sleep(max(0.0, started + 2.2 - time.time()))
    taken = tl(home, "claim", tid, session="survivor", check=False)
    assert taken.returncode == 0, taken.stderr
    assert json.loads(tl(home, "show", tid, "--json").stdout)["owner"] == "survivor"


def test_a_claim_on_a_blocked_task_names_the_blockers(run: Run) -> None:
    blocker = create(run, "first things")
    other = create(run, "also first")
    tid = create(run, "later", "--blocked-by", blocker, "--blocked-by", other)
    run("update", other, "--status", "completed")
    result = run("claim", tid, session="eager")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: task {tid[:4]} is blocked by {blocker[:4]} (first things); "
        "claim it anyway with --force\n"
    )
    assert run("claim", tid, "--force", session="eager").exit_code == 0


def test_status_changes_to_a_held_task_need_force(run: Run) -> None:
    tid = create(run, "mine")
    run("claim", tid, session="alice")
    result = run("update", tid, "--status", "completed", session="bob")
    assert result.exit_code == 3
    assert "is held by alice until" in result.stderr
    assert "changing its status or owner needs --force" in result.stderr
    assert run("update", tid, "--owner", "bob", session="bob").exit_code == 3
    assert run("delete", tid, session="bob").exit_code == 3
    # everything else stays open to collaboration
    assert run("note", tid, "bob was here", session="bob").exit_code == 0
    assert run("update", tid, "--meta", "reviewer=bob", session="bob").exit_code == 0
    # the holder itself, or --force, may
    forced = run("update", tid, "--status", "completed", "--force", session="bob")
    assert forced.exit_code == 0
    assert run.json("show", tid)["status"] == "completed"  # type: ignore[index]


def test_holder_ops_renew_the_lease_and_release_ends_it(run: Run) -> None:
    tid = create(run, "renewable")
    first = run.json("claim", tid, "--lease", "60", session="alice")
    until = first["lease"]["until"]  # type: ignore[index]
    time.sleep(0.01)
    run("note", tid, "progress", session="alice")
    renewed = run.json("show", tid)["lease"]  # type: ignore[index]
    assert renewed["holder"] == "alice"  # type: ignore[index]
    assert renewed["until"] > until  # type: ignore[index,operator]
    out = run("release", tid, session="alice")
    assert (out.exit_code, out.stdout) == (0, f"released {tid[:4]}  renewable\n")
    shown = run.json("show", tid)
    assert (shown["owner"], shown["status"], shown["lease"]) == ("", "pending", None)  # type: ignore[index]
    assert run("claim", tid, session="bob").exit_code == 0


def test_release_rules(run: Run) -> None:
    tid = create(run, "x")
    result = run("release", tid, session="alice")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: task {tid[:4]} is not claimed by alice\n",
    )
    run("claim", tid, session="alice")
    result = run("release", tid, session="bob")
    assert (result.exit_code, result.stderr) == (
        3,
        f"Error: task {tid[:4]} is held by alice, not by bob\n",
    )
    run("update", tid, "--status", "completed", session="alice")
    assert run("release", tid, session="alice").exit_code == 0
    assert run.json("show", tid)["status"] == "completed"  # type: ignore[index]
    done = run("claim", tid, session="bob")
    assert (done.exit_code, done.stderr) == (
        1,
        f"Error: task {tid[:4]} is completed; there is nothing to claim\n",
    )


def test_ready_claim_with_nothing_ready_exits_3(run: Run) -> None:
    result = run("ready", "--claim")
    assert (result.exit_code, result.stderr) == (3, "Error: no ready task to claim\n")


def test_show_and_sessions_report_leases(run: Run) -> None:
    tid = create(run, "watched")
    run("claim", tid, "--lease", "600", session="alice")
    shown = run("show", tid).stdout
    assert "lease       held by alice until " in shown
    assert "(9m left)" in shown or "(10m left)" in shown
    sessions = run.json("sessions")
    by_name = {s["session"]: s for s in sessions}  # type: ignore[union-attr,index]
    assert by_name["alice"]["holds"][0]["task"] == tid
    assert by_name["alice"]["ops"] == 1
    assert by_name["planner"]["holds"] == []
    assert by_name["alice"]["lastOp"]["op"] == "claim"
    table = run("sessions").stdout.splitlines()
    assert table[0].split() == ["SESSION", "STATE", "MACHINE", "OPS", "LAST", "ACTIVITY", "HOLDS"]
    assert any(line.startswith("alice") and f"{tid[:4]} (" in line for line in table)


def test_two_replicas_claim_at_once_and_agree_on_one_holder(tmp_path: Path) -> None:
    from tests.replicas import Replica

    one = Replica(tmp_path / "one", "alice")
    two = Replica(tmp_path / "two", "bob")
    tid = tl(one.home, "create", "contested", session="planner").stdout.strip()
    one.send_to(two)
    assert tl(one.home, "claim", tid, session="alice").returncode == 0
    assert tl(two.home, "claim", tid, session="bob").returncode == 0  # bob claims later
    one.send_to(two)
    two.send_to(one)
    owners = {json.loads(tl(r.home, "show", tid, "--json").stdout)["owner"] for r in (one, two)}
    assert owners == {"bob"}  # greater (HLC, session) on both replicas
    lost = tl(one.home, "note", tid, "still mine?", session="alice", check=False)
    assert lost.returncode == 3
    assert "is held by bob: their claim won over yours" in lost.stderr
    # told once: alice's later commands follow the ordinary rules
    assert tl(one.home, "note", tid, "ok, bob has it", session="alice").returncode == 0
    assert (
        tl(
            one.home, "update", tid, "--status", "completed", session="alice", check=False
        ).returncode
        == 3
    )
    assert tl(two.home, "update", tid, "--status", "completed", session="bob").returncode == 0
