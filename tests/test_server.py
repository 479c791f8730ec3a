"""The local server (cli/_server.py) and the client that hands it commands (cli/_client.py).

Every test here uses real processes and a real socket: a served command must
print, exit and record exactly what it would have in its own process; a
command the server started is never run twice; a server that cannot take a
command leaves it to the client; concurrent clients lose nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import _client, _query
from cli._memo import LineMemo
from ledger import Edits, Ledger, LedgerError

from .conftest import ROOT, data_dir, proc_env

DEADLINE_S = 120.0  # a readiness wait, never a speed claim: generous for a busy machine
_STARTED: list[subprocess.Popen[bytes]] = []  # (stopped after each test)


@pytest.fixture
def rt() -> Iterator[Path]:
    """A private runtime folder (short: a socket path holds about 100 bytes); the
    servers started in it are stopped afterwards."""
    path = Path(tempfile.mkdtemp(prefix="tlrt-", dir="/tmp"))
    path.chmod(0o700)
    yield path
    while _STARTED:
        proc = _STARTED.pop()
        proc.kill()
        proc.wait(DEADLINE_S)
    for lock in path.glob("*.lock"):
        try:
            os.kill(int(lock.read_text().strip() or 0), signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
    shutil.rmtree(path, ignore_errors=True)


def sock_of(rt: Path) -> Path:
    """The socket the client computes for this code (the same interpreter and files)."""
    os.environ["TASKLEDGER_RUNTIME_DIR"] = str(rt)
    try:
        path = _client.socket_path(str(rt))
    finally:
        del os.environ["TASKLEDGER_RUNTIME_DIR"]
    assert path is not None
    return Path(path)


def tl(
    home: Path, rt: Path, *args: str, mode: str = "require", session: str = "tester",
    stdin: str | None = None, **env: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """One real ``python -m cli`` process; ``mode``: ``$TASKLEDGER_SERVER``."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=proc_env(
            home,
            TASKLEDGER_SESSION=session,
            TASKLEDGER_SERVER=mode,
            TASKLEDGER_RUNTIME_DIR=str(rt),
            **env,
        ),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )


def start_server(rt: Path, **env: str) -> subprocess.Popen[bytes]:
    """A server on this code's socket, ready to serve."""
    path = sock_of(rt)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli._server", str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
    )
    _STARTED.append(proc)
    wait_until(lambda: connectable(path) or proc.poll() is not None)
    assert proc.poll() is None
    return proc


def connectable(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, "not ready in time"
        time.sleep(0.05)


def listed(home: Path) -> list[dict[str, object]]:
    """The tasks as a fresh process of its own reads them (no server, no cache)."""
    shutil.rmtree(data_dir(home) / "cache", ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "list", "--all", "--json"],
        env=proc_env(home, TASKLEDGER_SERVER="off"), cwd=ROOT, capture_output=True,
        text=True, check=True, timeout=DEADLINE_S,
    ).stdout  # fmt: skip
    tasks: list[dict[str, object]] = json.loads(out)
    return tasks


# ------------------------------------------------------------- same as in-process


def test_a_served_command_prints_and_exits_as_in_its_own_process(home: Path, rt: Path) -> None:
    server = start_server(rt)
    first = tl(home, rt, "create", "first task", "-d", "with  a description")
    assert first.returncode == 0, first.stderr
    a = first.stdout.strip()
    assert tl(home, rt, "create", "second", "--blocked-by", a).returncode == 0
    assert tl(home, rt, "claim", a, session="alice").returncode == 0
    reads = [
        ("list",),
        ("list", "--json"),
        ("list", "--all"),
        ("show", a),
        ("show", a, "--json"),
        ("ready",),
        ("ready", "--json"),
        ("show", "ffff"),  # not found: exit 1
        ("list", "--status", "nope"),  # usage error: exit 2
        ("claim", a, "--session", "bob"),  # held by alice: exit 3
        ("update", a, "--status", "completed", "--session", "bob"),  # held: exit 3
        ("update", a),  # nothing to change: usage error, exit 2
        ("list", "--help"),
    ]
    codes = []
    for args in reads:
        served = tl(home, rt, *args, COLUMNS="60")
        alone = tl(home, rt, *args, mode="off", COLUMNS="60")
        assert (served.returncode, served.stdout, served.stderr) == (
            alone.returncode, alone.stdout, alone.stderr,
        ), args  # fmt: skip
        codes.append(served.returncode)
    assert codes == [0] * 7 + [1, 2, 3, 3, 2, 0]
    assert server.poll() is None


def test_a_command_reading_stdin_runs_in_its_own_process(home: Path, rt: Path) -> None:
    start_server(rt)
    made = tl(home, rt, "create", "from stdin", "-d", "-", stdin="typed text\n")
    assert made.returncode == 0, made.stderr
    assert [t["description"] for t in listed(home)] == ["typed text\n"]


def test_the_first_command_starts_a_server_for_the_next(home: Path, rt: Path) -> None:
    assert tl(home, rt, "create", "one", mode="auto").returncode == 0  # (run here)
    wait_until(lambda: connectable(sock_of(rt)))
    assert tl(home, rt, "create", "two").returncode == 0  # (served)
    assert sorted(t["subject"] for t in listed(home)) == ["one", "two"]


# ----------------------------------------------------------------- nothing lost


def test_concurrent_clients_lose_nothing_and_claim_once(home: Path, rt: Path) -> None:
    start_server(rt)
    target = tl(home, rt, "create", "contested").stdout.strip()
    procs = []
    for n in range(8):
        script = "; ".join(
            [f"create w{n}-{k}" for k in range(6)] + [f"claim {target}"]
        )  # (each line one real client process, below)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _BURST, script],
                env=proc_env(
                    home,
                    TASKLEDGER_SESSION=f"s{n}",
                    TASKLEDGER_SERVER="auto",
                    TASKLEDGER_RUNTIME_DIR=str(rt),
                ),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    codes = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        codes.append(json.loads(out))
    assert all(c[:-1] == [0] * 6 for c in codes), codes
    assert sorted(c[-1] for c in codes) == [0] + [3] * 7  # exactly one claim won
    subjects = sorted(str(t["subject"]) for t in listed(home))
    assert subjects == sorted(["contested"] + [f"w{n}-{k}" for n in range(8) for k in range(6)])


# Runs each ``;``-separated command as its own ``python -m cli`` process, in turn.
_BURST = """
import json, subprocess, sys
codes = [subprocess.run([sys.executable, "-m", "cli", *c.split()], capture_output=True).returncode
         for c in sys.argv[1].split("; ")]
print(json.dumps(codes))
"""


def test_a_replaced_list_folder_gets_a_fresh_ledger(home: Path, rt: Path) -> None:
    start_server(rt)
    assert tl(home, rt, "create", "before").returncode == 0
    shutil.rmtree(data_dir(home))
    shutil.rmtree(home / "main")
    assert tl(home, rt, "create", "after").returncode == 0
    assert [t["subject"] for t in listed(home)] == ["after"]
    assert (home / "main").is_dir()


# --------------------------------------------------------- the client's fallbacks


def fake_server(path: Path, talk: Callable[[socket.socket], None]) -> threading.Thread:
    """A socket that takes one request and then does what ``talk`` says."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                head = conn.recv(8, socket.MSG_WAITALL)
                assert head[:4] == _client.MAGIC
                conn.recv(int.from_bytes(head[4:], "big"), socket.MSG_WAITALL)
                talk(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_command_the_server_started_is_never_run_again(home: Path, rt: Path) -> None:
    def start_then_die(conn: socket.socket) -> None:
        conn.sendall(b"s")
        assert conn.recv(1) == b"g"

    thread = fake_server(sock_of(rt), start_then_die)
    done = tl(home, rt, "create", "maybe", mode="auto")
    thread.join(DEADLINE_S)
    assert done.returncode == _client.EXIT_LOST
    assert done.stderr.startswith("Error: the taskledger server started this command")
    assert "Traceback" not in done.stderr
    assert listed(home) == []  # (this fake appended nothing; the client did not either)


def test_a_refused_command_runs_in_its_own_process(home: Path, rt: Path) -> None:
    thread = fake_server(sock_of(rt), lambda conn: conn.sendall(b"n"))
    assert tl(home, rt, "create", "mine", mode="auto").returncode == 0
    thread.join(DEADLINE_S)
    assert [t["subject"] for t in listed(home)] == ["mine"]


def test_a_client_that_stopped_waiting_is_not_served(home: Path, rt: Path) -> None:
    released = threading.Event()
    answers: list[bytes] = []

    def late(conn: socket.socket) -> None:
        released.wait(DEADLINE_S)  # (until the client ran the command itself)
        try:
            conn.sendall(b"s")
            answers.append(conn.recv(1))
        except OSError:
            answers.append(b"")

    thread = fake_server(sock_of(rt), late)
    done = tl(home, rt, "create", "once", mode="auto")
    released.set()
    thread.join(DEADLINE_S)
    assert done.returncode == 0, done.stderr
    assert answers == [b""]  # it never said go: a real server skips it
    assert [t["subject"] for t in listed(home)] == ["once"]


def test_a_runtime_folder_others_can_enter_is_not_used(home: Path, rt: Path) -> None:
    rt.chmod(0o755)
    refused = tl(home, rt, "create", "x")
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: no taskledger server")
    assert tl(home, rt, "create", "y", mode="auto").returncode == 0
    assert not list(rt.iterdir())  # no server was started there


def test_the_socket_name_follows_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(_client, "_package_dirs", lambda: [str(tmp_path)])
    first = _client.code_stamp()
    assert _client.code_stamp() == first
    (tmp_path / "a.py").write_text("x = 22\n")
    second = _client.code_stamp()
    (tmp_path / "b.py").write_text("")
    assert len({first, second, _client.code_stamp()}) == 3


# ------------------------------------------------------------ the server's life


def test_one_server_per_socket(home: Path, rt: Path) -> None:
    first = start_server(rt)
    second = subprocess.Popen(
        [sys.executable, "-m", "cli._server", str(sock_of(rt))], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    _STARTED.append(second)
    assert second.wait(DEADLINE_S) == 0
    assert first.poll() is None
    assert tl(home, rt, "create", "still served").returncode == 0


def test_a_server_ends_when_idle_stopped_or_its_socket_goes(home: Path, rt: Path) -> None:
    idle = start_server(rt, TASKLEDGER_SERVER_IDLE="0.2")
    assert idle.wait(DEADLINE_S) == 0
    assert not sock_of(rt).exists()
    stopped = start_server(rt)
    assert tl(home, rt, "create", "x").returncode == 0
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(DEADLINE_S) == 0
    assert not sock_of(rt).exists()
    orphan = start_server(rt)
    sock_of(rt).unlink()
    assert orphan.wait(DEADLINE_S) == 0


# ----------------------------------------------------------------- list's memo

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=90)


@settings(max_examples=25)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["create", "rename", "delete", "claim", "block"]), _TEXT),
        min_size=1,
        max_size=8,
    ),
    width=st.sampled_from([None, 20, 61, 200]),
)
def test_the_servers_list_table_is_the_plain_one(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str]], width: int | None
) -> None:
    home = tmp_path_factory.mktemp("memo")
    ledger = Ledger.open(home, "main", "s1")
    memo = LineMemo()
    ids: list[str] = []
    for n, (kind, text) in enumerate(steps):
        try:
            if kind == "create" or not ids:
                ids.append(ledger.create(Edits(subject=text or "t")).id)
            elif kind == "rename":
                ledger.update(ids[n % len(ids)], Edits(subject=text or "r"))
            elif kind == "delete":
                ledger.delete(ids[n % len(ids)], force=True)
            elif kind == "claim":
                ledger.claim(ids[n % len(ids)], force=True, lease_seconds=n % 2 or 3600)
            else:
                ledger.update(ids[-1], Edits(add_blocked_by=(ids[0],)))
        except LedgerError:
            pass  # (a step the state refuses: a deleted task, a task blocking itself)
        state = ledger.state()
        now = ledger.clock()
        for rows in (state.select(now), state.select(now, include_deleted=True)):
            os.environ["COLUMNS"] = str(width or "")
            try:
                _query.MEMO = None
                plain = _query._table(state, rows, now)
                _query.MEMO = memo
                assert _query._table(state, rows, now) == plain
            finally:
                _query.MEMO = None
                del os.environ["COLUMNS"]
