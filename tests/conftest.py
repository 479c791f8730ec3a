"""Shared fixtures: isolated homes, a CLI runner, and real ``taskledger`` processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from cli._main import cli

# Real processes run their commands themselves: the local server (cli/_server.py) is
# tested on its own, in tests/test_server.py, which turns it on for its processes.
os.environ["TASKLEDGER_SERVER"] = "off"

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=200)
settings.register_profile("long", parent=settings.get_profile("default"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ENV_KEYS = (
    "TASKLEDGER_HOME",
    "TASKLEDGER_LIST",
    "TASKLEDGER_SESSION",
    "CLAUDE_CODE_TASK_LIST_ID",
    "CLAUDE_CONFIG_DIR",
    "TASKLEDGER_DATA",
    "TASKLEDGER_MACHINE",
    # the developer's terminal: human output is fitted to $COLUMNS when it is set
    "COLUMNS",
    "LINES",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own task lists or session."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home folder of lists."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@dataclass
class Run:
    """Invoke the CLI in-process: ``run("create", "x", session="alice")``."""

    home: Path
    runner: CliRunner

    def __call__(
        self, *args: str, session: str = "tester", list_id: str = "main", input: str | None = None
    ) -> Result:
        full = [*args, "--home", str(self.home), "--list", list_id]
        if args and args[0] != "history":
            full += ["--session", session]
        return self.runner.invoke(cli, full, input=input, catch_exceptions=False)

    def json(self, *args: str, **kwargs: str) -> object:
        result = self(*args, "--json", **kwargs)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def runner() -> CliRunner:
    """click's runner, stderr kept apart from stdout."""
    return CliRunner()


@pytest.fixture
def run(home: Path, runner: CliRunner) -> Run:
    """Run taskledger commands against the ``home`` fixture."""
    return Run(home, runner)


def taskledger_argv() -> list[str]:
    """How to start the installed console script from this interpreter's environment."""
    script = Path(sys.executable).with_name("taskledger")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def proc_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a real process on ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env["TASKLEDGER_HOME"] = str(home)
    env["TASKLEDGER_LIST"] = "main"
    env.update(extra)
    return env


def tl(
    home: Path, *args: str, session: str = "tester", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one real ``taskledger`` process to completion."""
    proc = subprocess.run(
        [*taskledger_argv(), *args],
        env=proc_env(home, TASKLEDGER_SESSION=session),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


# A real taskledger process that imports everything first, then waits for a
# shared start instant, so that the commands themselves overlap.
_AT_ONCE = """
import sys, time
from cli._main import main
import ledger._doc, ledger._replay
start = float(sys.argv[1])
sys.argv = ["taskledger", *sys.argv[2:]]
time.sleep(max(0.0, start - time.time()))
main()
"""


@dataclass
class Outcome:
    """How one concurrent process ended."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str


def at_once(
    home: Path, jobs: Sequence[tuple[str, Sequence[str]]], *, lead: float = 0.0
) -> list[Outcome]:
    """Start one process per (session, argv) and release them at the same instant."""
    start = time.time() + max(lead, 1.0 + 0.06 * len(jobs))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_ONCE, repr(start), *args],
            env=proc_env(home, TASKLEDGER_SESSION=session),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for session, args in jobs
    ]
    out = []
    for (_, args), proc in zip(jobs, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=300)
        out.append(Outcome(args, proc.returncode, stdout, stderr))
    return out


@pytest.fixture
def no_traceback() -> Iterator[Callable[[str], None]]:
    """Assert a process's stderr carries no Python traceback."""

    def check(stderr: str) -> None:
        assert "Traceback" not in stderr, stderr

    yield check


ROOT = Path(__file__).resolve().parent.parent


def racers(
    home: Path, plans: Sequence[tuple[str, Sequence[tuple[float, Sequence[str]]]]]
) -> list[list[tuple[int, str, str, float]]]:
    """Run one real process per session, each running its commands at given instants.

    Args:
        home: the home folder (list ``main``).
        plans: per session, ``(start_epoch_s, argv)`` steps.

    Returns:
        Per session, per step: ``(exit_code, stdout, stderr, seconds)``.
    """
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="racers-"))
    procs = []
    for n, (session, steps) in enumerate(plans):
        plan = work / f"{n}.json"
        plan.write_text(
            json.dumps(
                {
                    "session": session,
                    "env": {"TASKLEDGER_HOME": str(home), "TASKLEDGER_LIST": "main"},
                    "steps": [[start, list(argv)] for start, argv in steps],
                }
            )
        )
        env = proc_env(home, PYTHONPATH=str(ROOT))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "tests" / "racer.py"),
                    str(plan),
                    str(work / f"{n}.out"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    try:
        for n, proc in enumerate(procs):
            _, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, stderr
            results.append([tuple(r) for r in json.loads((work / f"{n}.out").read_text())])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results  # type: ignore[return-value]


def data_dir(home: Path, list_id: str = "main") -> Path:
    """The data folder of a list (its logs, writers, claims, cache) for a home."""
    from ledger import Layout

    return Layout.of(home, list_id).root
