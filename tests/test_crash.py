"""Writers SIGKILLed at random instants: nothing committed is lost, verify sees only torn tails."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, proc_env, taskledger_argv, tl

pytestmark = pytest.mark.slow

_LIBRARY_WRITER = """
import sys
from ledger import Ledger
home, tid, session, tag = sys.argv[1:5]
ledger = Ledger.open(home, "main", session)
n = 0
while True:
    ledger.note(tid, f"{tag}.{n}")
    print(f"{tag}.{n}", flush=True)   # printed only once the note is committed
    n += 1
"""


#: rounds of kills; TASKLEDGER_STRESS=1 runs a longer storm
ROUNDS = 40 if os.environ.get("TASKLEDGER_STRESS") else 10


def first_line(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> str:
    """The first line a process prints (waiting as long as a slow machine needs)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "the writer committed nothing within two minutes"
    return proc.stdout.readline()


def test_random_sigkills_never_lose_a_committed_op(home: Path) -> None:
    """Every round kills one of three racing CLI updates at a random instant, and a
    library writer at a random instant *after* its first commit -- whatever the
    machine's speed, every round kills a writer that has committed."""
    rng = random.Random(20261123)
    tid = tl(home, "create", "under fire", session="setup").stdout.strip()
    committed_keys: set[str] = set()
    committed_notes: set[str] = set()
    kills = 0
    for round_ in range(ROUNDS):
        # three CLI commands at once, sometimes of the same session (sharing one log)
        procs = []
        for k in range(3):
            key = f"r{round_}k{k}"
            session = rng.choice(["alpha", "beta", "alpha"])
            proc = subprocess.Popen(
                [*taskledger_argv(), "update", tid, "--meta", f"{key}=1"],
                env=proc_env(home, TASKLEDGER_SESSION=session),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append((key, proc))
        # and a library writer appending notes as fast as it can
        writer = subprocess.Popen(
            [sys.executable, "-c", _LIBRARY_WRITER, str(home), tid, rng.choice(["gamma", "alpha"]),
             f"w{round_}"],
            env=proc_env(home, PYTHONPATH=str(ROOT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        time.sleep(rng.uniform(0.0, 0.3))
        key, victim = rng.choice(procs)
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            kills += 1
        committed_notes.add(first_line(writer).strip())
        time.sleep(rng.uniform(0.0, 0.2))  # the kill lands mid-append, or between appends
        writer.send_signal(signal.SIGKILL)
        kills += 1
        out, err = writer.communicate()
        assert "Traceback" not in err, err
        committed_notes.update(out.split())
        for key, proc in procs:
            _, err = proc.communicate()
            assert "Traceback" not in err, err
            if proc.returncode == 0:
                committed_keys.add(key)
            else:
                assert proc.returncode == -signal.SIGKILL, (proc.returncode, err)
    assert kills >= ROUNDS
    assert len(committed_notes) >= ROUNDS  # every round's writer committed before its kill
    task = json.loads(tl(home, "show", tid, "--json").stdout)
    missing_keys = committed_keys - set(task["metadata"])
    missing_notes = committed_notes - {n["text"] for n in task["notes"]}
    assert not missing_keys, missing_keys
    assert not missing_notes, missing_notes
    report = json.loads(tl(home, "verify", "--json", check=False).stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert not errors, errors
    assert all("torn" in p["message"] for p in report["problems"])
