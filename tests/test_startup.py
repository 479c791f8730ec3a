"""Each command imports only what it needs: a warm read never loads pycrdt.

Start-up is most of a CLI call's cost, so which modules a command loads is
part of its contract. Timings live in benchmarks/; these tests check the
modules, in a fresh interpreter per command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import OP_KINDS, STATUSES, OpKind, Status
from tests.conftest import Run, data_dir, proc_env, taskledger_argv, tl

HEAVY = ("pycrdt", "pycrdt._pycrdt", "watchfiles", "hypothesis", "ledger._doc", "ledger._replay")

PROBE = """
import json, sys
from cli._main import cli
try:
    cli.main(sys.argv[1:], prog_name="taskledger")
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)
"""


def loaded(home: Path, *args: str) -> set[str]:
    """The modules a fresh process has loaded after running one command."""
    full = [*args, "--home", str(home), "--list", "main", "--session", "probe"]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *full], capture_output=True, text=True, timeout=60
    )
    code, modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert code in (0, None), proc.stdout + proc.stderr
    return set(modules)


def at_start() -> set[str]:
    """The modules this interpreter has loaded once click is imported."""
    code = "import json, sys, click; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return set(json.loads(out.stdout))


@pytest.fixture
def warm(run: Run) -> str:
    """A list of three tasks whose derived cache is fresh; the first one's id."""
    first = run.json("create", "first")
    run("create", "second")
    run("create", "third", "--blocked-by", first["id"])  # type: ignore[index]
    assert run("list").exit_code == 0
    return str(first["id"])  # type: ignore[index]


@pytest.mark.parametrize("command", [["list"], ["ready"], ["list", "--status", "pending"]])
def test_a_warm_table_is_answered_from_rows(run: Run, warm: str, command: list[str]) -> None:
    modules = loaded(run.home, *command)
    assert not modules & {*HEAVY, "ledger._model", "ledger._log", "ledger._decide"}


@pytest.mark.parametrize("command", [["show"], ["list", "--json"]])
def test_a_warm_full_read_loads_shards_not_crdt(run: Run, warm: str, command: list[str]) -> None:
    modules = loaded(run.home, *command, *([warm] if command == ["show"] else []))
    assert "ledger._model" in modules  # full tasks, read from their shard files
    assert not modules & set(HEAVY)


def test_a_write_loads_pycrdt_but_not_watch_or_hypothesis(run: Run, warm: str) -> None:
    modules = loaded(run.home, "update", warm, "--subject", "renamed")
    assert "pycrdt._pycrdt" in modules  # pycrdt's compiled core, without its Python layer
    assert "pycrdt" not in modules
    assert not modules & {"watchfiles", "hypothesis"}
    # OpenSSL, sockets, archives and diffs cost a write 10-20 ms and are not used by it
    # (unless the interpreter loads one at start: an installer's .pth hook may)
    unused = {"hashlib", "_hashlib", "socket", "shutil", "getpass", "difflib"}
    assert not (modules - at_start()) & unused


def test_a_cold_read_replays_the_logs(run: Run, warm: str) -> None:
    for path in (data_dir(run.home) / "cache").iterdir():
        if path.is_file():
            path.unlink()
    modules = loaded(run.home, "list")
    assert "ledger._replay" in modules
    assert loaded(run.home, "list").isdisjoint(HEAVY)  # the replay refreshed the cache


def test_the_built_in_digests_are_hashlibs() -> None:
    import hashlib

    from ledger._hashing import blake2b, sha256

    for data in (b"", b"abc", os.urandom(1000)):
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        assert (
            blake2b(data, digest_size=8).digest() == hashlib.blake2b(data, digest_size=8).digest()
        )


def test_light_constants_match_the_model() -> None:
    assert tuple(s.value for s in Status) == STATUSES
    assert tuple(k.value for k in OpKind) == OP_KINDS


def test_a_reader_that_went_away_is_not_a_traceback(run: Run, warm: str) -> None:
    read, write = os.pipe()
    os.close(read)  # every write to stdout now fails with EPIPE
    try:
        proc = subprocess.run(
            [*taskledger_argv(), "list"],
            stdout=write,
            stderr=subprocess.PIPE,
            env=proc_env(run.home),
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (1, "")


def test_the_fast_exit_keeps_exit_codes_and_writes(run: Run, warm: str) -> None:
    """``main`` ends with os._exit: what it printed and appended must all be there."""
    made = tl(run.home, "create", "made by a real process", "--json")
    created = json.loads(made.stdout)
    assert run.json("show", created["id"])["subject"] == "made by a real process"  # type: ignore[index]
    assert tl(run.home, "show", "0000", check=False).returncode == 1
    assert tl(run.home, "list", "--no-such-option", check=False).returncode == 2
