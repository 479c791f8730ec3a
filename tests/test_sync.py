"""``taskledger sync`` with real git (issue 16): a bare repository as the remote and
three replicas -- separate homes, separate machine identities -- that work
offline, then sync in any order, at the same time: they converge, lose
nothing, and git never merges or conflicts."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENV_KEYS, taskledger_argv

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@dataclass
class Machine:
    """One replica: its own home and machine identity."""

    home: Path
    machine: str
    remote: Path

    def env(self, session: str) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
        env.update(TASKLEDGER_HOME=str(self.home), TASKLEDGER_LIST="main",
                   TASKLEDGER_SESSION=session, TASKLEDGER_MACHINE=self.machine)  # fmt: skip
        return env

    def tl(
        self, *args: str, session: str = "alice", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*taskledger_argv(), *args], env=self.env(session),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if check:
            assert proc.returncode == 0, (self.machine, args, proc.stdout, proc.stderr)
        return proc

    def sync(self) -> subprocess.CompletedProcess[str]:
        return self.tl("sync", str(self.remote))

    def view(self) -> tuple[Any, list[str]]:
        listed = json.loads(self.tl("list", "--all", "--json").stdout)
        history = self.tl("history", "--json").stdout.splitlines()
        return listed, history


@pytest.fixture
def machines(tmp_path: Path) -> list[Machine]:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    return [Machine(tmp_path / f"home-{n}", f"m{n}", remote) for n in range(3)]


def converge(machines: list[Machine]) -> None:
    for _ in range(2):  # every replica has pushed, then every replica has pulled
        for m in machines:
            m.sync()


def test_three_replicas_work_offline_then_converge(machines: list[Machine]) -> None:
    rng = random.Random(16)
    a = machines[0]
    shared = a.tl("create", "shared task", "-d", "one\ntwo\n").stdout.strip()
    a.tl("create", "contested")
    converge(machines)
    committed = 2
    # offline: every replica, sessions of the same name on two machines (alice)
    for n, m in enumerate(machines):
        session = "alice" if n < 2 else "carol"
        mine = m.tl("create", f"made on {m.machine}", session=session).stdout.strip()
        m.tl("update", shared, "--subject", f"subject from {m.machine}", session=session)
        m.tl("update", shared, "--meta", f"{m.machine}=yes", session=session)
        m.tl("note", shared, f"note from {m.machine}", session=session)
        m.tl("update", mine, "--status", "in_progress", session=session)
        gone = m.tl("create", f"scratch on {m.machine}", session=session).stdout.strip()
        m.tl("delete", gone, session=session)
        committed += 7
    # all sync, in random order, repeatedly, several processes at once (two on one replica)
    for _ in range(3):
        order = [rng.choice(machines) for _ in range(4)]
        procs = [subprocess.Popen([*taskledger_argv(), "sync", str(m.remote)], env=m.env("alice"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for m in order]  # fmt: skip
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert "conflict" not in (out + err).lower()
    converge(machines)
    views = [m.view() for m in machines]
    assert views[0] == views[1] == views[2]
    listed, history = views[0]
    assert len(history) == committed  # no op lost
    task = next(t for t in listed if t["id"] == shared)
    assert sorted(task["metadata"]) == ["m0", "m1", "m2"]
    assert sorted(n["text"] for n in task["notes"]) == [f"note from m{n}" for n in range(3)]
    assert len([t for t in listed if t["deleted"]]) == 3
    assert (
        len({json.loads(h)["writer"] for h in history if json.loads(h)["session"] == "alice"}) == 2
    )
    for m in machines:
        assert m.tl("verify").returncode == 0
    sessions = json.loads(a.tl("sessions", "--json").stdout)
    alice = next(s for s in sessions if s["session"] == "alice")
    assert sorted(x["machine"] for x in alice["machines"]) == ["m0", "m1"]


def test_a_claim_race_across_replicas_has_one_winner_everywhere(machines: list[Machine]) -> None:
    a, b, _ = machines
    task = a.tl("create", "one task, two claimants").stdout.strip()
    converge(machines)
    assert a.tl("claim", task, session="alice").returncode == 0  # offline, both win locally
    assert b.tl("claim", task, session="bob").returncode == 0
    converge(machines)
    holders = {json.loads(m.tl("show", task, "--json").stdout)["lease"]["holder"] for m in machines}
    assert len(holders) == 1
    (winner,) = holders
    loser, side = ("bob", b) if winner == "alice" else ("alice", a)
    told = side.tl("note", task, "still mine?", session=loser, check=False)
    assert told.returncode == 3, told.stderr
    assert winner in told.stderr


def tamper(remote: Path, change: Any) -> None:
    """Rewrite the remote branch: a new commit whose tree has one log changed, force-pushed."""
    work = remote.parent / "tamper"
    branch = ["--branch", "taskledger/main"]
    subprocess.run(["git", "clone", "--quiet", *branch, str(remote), str(work)], check=True)
    logs = sorted(work.glob("*.jsonl"))
    change(work, logs)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=x", "-c", "user.email=x@x", "commit",
                    "--quiet", "-am", "tamper"], check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(work), "push", "--quiet", "--force", "origin",
                    "HEAD:taskledger/main"], check=True)  # fmt: skip
    shutil.rmtree(work)


@pytest.mark.parametrize("how", ["a byte changed", "a record removed", "history rewritten"])
def test_a_rewritten_remote_is_reported_and_changes_nothing_here(
    machines: list[Machine], how: str
) -> None:
    a, b, _ = machines
    for n in range(3):
        a.tl("create", f"task {n}")
    converge(machines)
    before = b.view()

    def change(work: Path, logs: list[Path]) -> None:
        (log,) = [p for p in logs if p.name.startswith("alice.")]
        lines = log.read_bytes().splitlines(keepends=True)
        if how == "a byte changed":
            lines[1] = lines[1].replace(b"task 1", b"task X")
        elif how == "a record removed":
            del lines[1]
        log.write_bytes(b"".join(lines))
        if how == "history rewritten":
            subprocess.run(["git", "-C", str(work), "reset", "--quiet", "--soft", "HEAD~1"],
                           check=True)  # fmt: skip
            (work / "rewritten.txt").write_text("x")
            subprocess.run(["git", "-C", str(work), "add", "rewritten.txt"], check=True)

    tamper(a.remote, change)
    told = b.tl("sync", str(b.remote), check=False)
    assert told.returncode == 1, told.stdout + told.stderr
    assert "Error:" in told.stderr and (
        "rewritten" in told.stderr or "no longer extends" in told.stderr
    )
    assert b.view() == before  # nothing local changed
    assert b.tl("verify").returncode == 0


def test_an_unreachable_remote_is_an_error_that_loses_nothing(machines: list[Machine]) -> None:
    a = machines[0]
    tid = a.tl("create", "kept").stdout.strip()
    gone = a.tl("sync", str(a.remote.parent / "no-such.git"), check=False)
    assert gone.returncode == 1 and gone.stderr.startswith("Error: ")
    assert "Traceback" not in gone.stderr
    assert json.loads(a.tl("show", tid, "--json").stdout)["subject"] == "kept"
    never = a.tl("sync", check=False)  # no remote known yet
    assert never.returncode == 1 and "REMOTE" in never.stderr
