"""Real racing sessions: many ``taskledger`` processes on one list at once.

Used by ``taskledger demo`` (and by the simulation and benchmarks): each
session runs its commands one after another in its own processes, all
sessions at the same time, so their commands genuinely overlap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Run:
    """One finished command.

    Attributes:
        session: who ran it.
        args: its arguments (after ``taskledger``).
        returncode: its exit code.
        stdout: what it printed.
        stderr: what it printed on stderr.
    """

    session: str
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@dataclass(slots=True)
class RaceResult:
    """All commands of a race, and how long it took.

    Attributes:
        runs: every command, in the order each session ran them.
        seconds: wall time of the whole race.
    """

    runs: list[Run] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def committed(self) -> list[Run]:
        """Commands that exited 0."""
        return [r for r in self.runs if r.returncode == 0]


def command(home: Path, list_id: str, session: str) -> tuple[list[str], dict[str, str]]:
    """argv prefix and environment that run ``taskledger`` as ``session``."""
    env = dict(os.environ)
    env.update(
        {"TASKLEDGER_HOME": str(home), "TASKLEDGER_LIST": list_id, "TASKLEDGER_SESSION": session}
    )
    return [sys.executable, "-m", "cli"], env


def race(
    home: Path, list_id: str, scripts: Sequence[tuple[str, Sequence[Sequence[str]]]]
) -> RaceResult:
    """Run each session's commands in order, all sessions concurrently.

    Args:
        home: the home folder.
        list_id: the list to race on.
        scripts: per session, its commands (argument lists after ``taskledger``).

    Returns:
        Every command's outcome.
    """
    result = RaceResult()
    lock = threading.Lock()
    gate = threading.Barrier(len(scripts))

    def session_thread(session: str, commands: Sequence[Sequence[str]]) -> None:
        argv, env = command(home, list_id, session)
        gate.wait()
        for args in commands:
            proc = subprocess.run(
                [*argv, *args], env=env, capture_output=True, text=True, check=False
            )
            with lock:
                result.runs.append(
                    Run(session, tuple(args), proc.returncode, proc.stdout, proc.stderr)
                )

    threads = [
        threading.Thread(target=session_thread, args=(session, commands))
        for session, commands in scripts
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - start
    return result
