"""simulate, simulate --shrink and demo: the naive files lose updates, the ledger does not."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from cli._main import cli
from sim import change, make_script
from sim.shrink import Race, RaceOp, run_ledger, run_naive

slow = pytest.mark.slow


def test_the_script_is_fixed_by_the_seed() -> None:
    assert make_script(1, 3, 20, 5) == make_script(1, 3, 20, 5)
    assert make_script(1, 3, 20, 5) != make_script(2, 3, 20, 5)
    script = make_script(7, 4, 100, 6)
    for ops in script.values():
        for op in ops:
            if op.kind == "dep":
                assert op.arg < op.task  # blockers come from lower indexes: never a cycle


@slow
def test_simulate_real_processes_naive_loses_ledger_does_not(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["simulate", "--sessions", "4", "--ops", "50", "--seed", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["sessions"], report["ops"], report["seed"]) == (4, 50, 3)
    naive, ledger = report["naive"], report["ledger"]
    assert naive["attempted"] == ledger["attempted"] == 200
    assert naive["lost"] > 0
    assert ledger["lost"] == 0
    assert ledger["double_claims"] == 0
    assert ledger["disagreements"] == 0
    assert ledger["extra"]["replicas_identical"] is True
    assert ledger["extra"]["verify_ok"] is True
    assert set(naive) == {
        "attempted", "committed", "lost", "double_claims", "disagreements", "seconds",
        "lost_examples", "extra",
    }  # fmt: skip


def test_a_read_modify_write_race_loses_an_update_in_the_naive_files() -> None:
    race = Race({"A": (RaceOp("meta", 0),), "B": (RaceOp("meta", 0),)}, ("A", "B", "A", "B"))
    naive = run_naive(race)
    assert naive.lost == ["A's metadata a0=1 on task 1"]
    assert "t4  B writes task 1 back with metadata b0=1" in naive.timeline
    ledger = run_ledger(race)
    assert not ledger.bad
    assert ledger.timeline[-1] == "t4  B appends metadata b0=1 on task 1"


def test_a_claim_race_double_claims_in_the_naive_files_only() -> None:
    race = Race({"A": (RaceOp("claim", 1),), "B": (RaceOp("claim", 1),)}, ("A", "B", "A", "B"))
    assert run_naive(race).double_claims == ["task 2 is claimed by both A and B"]
    ledger = run_ledger(race)
    assert ledger.double_claims == []
    assert "B is refused: task" in ledger.timeline[-1] and "(exit 3)" in ledger.timeline[-1]


def test_shrink_prints_the_smallest_losing_race_and_the_ledger_keeping_it(
    runner: CliRunner,
) -> None:
    result = runner.invoke(cli, ["simulate", "--shrink"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "smallest losing race:" in out
    assert "=> vanished:" in out or "=> double claim:" in out
    assert out.rstrip().endswith("=> nothing lost, no task claimed twice")
    naive_steps = [ln for ln in out.splitlines() if ln.startswith("  t")]
    assert 4 <= len(naive_steps) <= 12  # a handful of steps, twice (naive, ledger)
    data = json.loads(runner.invoke(cli, ["simulate", "--shrink", "--json"]).stdout)
    assert data["naive"]["lost"] or data["naive"]["doubleClaims"]
    assert data["ledger"]["lost"] == [] and data["ledger"]["doubleClaims"] == []


def test_shrink_without_hypothesis_says_how_to_get_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    result = runner.invoke(cli, ["simulate", "--shrink"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: simulate --shrink needs hypothesis: pip install 'taskledger[sim]'\n"
    )


def test_naive_change_rules() -> None:
    task = {"owner": "", "metadata": {}, "description": "", "blockedBy": [], "blocks": []}
    assert change(task, "claim", "a", None) and task["owner"] == "a"
    assert not change(task, "claim", "b", None)
    assert not change(task, "release", "b", None)
    assert change(task, "release", "a", None) and task["status"] == "pending"
    with pytest.raises(ValueError):
        change(task, "explode", "a", None)


@slow
def test_demo_runs_and_shows_both_models(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["demo", "--sessions", "4"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "the board (taskledger):" in out
    assert "audit trail of" in out
    assert "4/4 metadata keys, 4/4 notes, one holder" in out
    lost_row = next(ln for ln in out.splitlines() if ln.strip().startswith("updates lost"))
    assert lost_row.split()[-1] == "0"
    assert "taskledger verify: OK" in out
