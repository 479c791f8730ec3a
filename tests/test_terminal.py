"""What reaches a real terminal (issue 12, item 1): stored text can never move
the cursor, retitle the window, hide lines or fake output.

Every human command runs as a real ``taskledger`` process on a pty and the
bytes the terminal receives are checked; ``--json`` keeps the values exact.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger import Edits, Ledger
from tests.conftest import proc_env, taskledger_argv
from tests.replicas import Clock, Replica

pytestmark = pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pty")

#: an OSC title, BEL, a CSI clear-screen, CR, backspace, a C1 CSI, a bidi override,
#: an isolate, a zero-width space, NUL, DEL and a line separator
HOSTILE = "A\x1b]0;pwned\x07B\x1b[2J\rC\x08D\x9b31mE\u202eF\u2066G\u200bH\x00I\x7fJ\u2028K"
#: what may reach a terminal: printable text, newline, CR only before a newline (the
#: pty's own newline translation), and tab
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def pty_run(
    argv: list[str],
    env: dict[str, str],
    *,
    until: Callable[[bytes], bool] | None = None,
    poke: Callable[[], None] | None = None,
    deadline_s: float = 120.0,
) -> bytes:
    """Run a process on a pty (80 columns) and return every byte it wrote there.

    With ``until``, the process is stopped once the output satisfies it;
    ``poke`` runs between reads meanwhile (to make something happen).
    """
    master, slave = pty.openpty()
    import fcntl
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    out = bytearray()
    end = time.monotonic() + deadline_s
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not data:
                    break
                out += data
            if until is not None and until(bytes(out)):
                break
            if proc.poll() is not None and not ready:
                break
            if poke is not None and not ready:
                poke()
        else:
            raise AssertionError(f"{argv[1:]} did not finish: {bytes(out)[-500:]!r}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        os.close(master)
    return bytes(out)


def check_bytes(raw: bytes, what: str) -> str:
    text = raw.decode("utf-8")
    assert "Traceback" not in text, (what, text)
    bad = FORBIDDEN.search(text.replace("\r\n", "\n"))
    assert bad is None, (what, repr(bad.group()), text)
    assert "\x1b" not in text and "\r" not in text.replace("\r\n", "")
    return text


@pytest.fixture
def hostile_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A list whose every stored text is hostile, with a conflict between two replicas.

    The writers are hostile too: they skip the checks a taskledger writer makes
    (single-line subjects and owners), as any program appending to a log can.
    """
    import ledger._checks
    import ledger._decide

    def anything(name: str, value: str, limit: int, *, one_line: bool = False) -> str:
        return value

    monkeypatch.setattr(ledger._decide, "check_text", anything)
    monkeypatch.setattr(ledger._checks, "check_text", anything)
    home = tmp_path / "home"
    a = Replica(home, "alice", Clock(1_800_000_000_000))
    b = Replica(tmp_path / "other", "bob", Clock(1_800_000_000_000))
    ledger = a.ledger
    task = ledger.create(
        Edits(
            subject=f"subject {HOSTILE}",
            description=f"line one {HOSTILE}\nline two {HOSTILE}",
            active_form=f"doing {HOSTILE}",
            set_meta={f"key{HOSTILE}": f"value {HOSTILE}", "nested": {"k": [HOSTILE]}},
        )
    )
    ledger.update(task.id, Edits(owner=f"owner {HOSTILE}"))
    ledger.note(task.id, f"note {HOSTILE}")
    other = ledger.create(Edits(subject=f"second {HOSTILE}", add_blocked_by=(task.id,)))
    a.send_to(b)
    Ledger.open(b.home, "main", "bob", clock=b.clock).update(
        other.id, Edits(subject=f"bob {HOSTILE}")
    )
    ledger.update(other.id, Edits(subject=f"alice {HOSTILE}"))
    b.send_to(a)
    # a record's own wall-clock text is stored text too
    (log,) = a.own_logs()
    *head, last = log.read_bytes().splitlines()
    record = json.loads(last)
    record["at"] = "\x1b]0;t\x07\x1b[2J 2027-01-15T08:00:00.000Z"
    log.write_bytes(b"".join(x + b"\n" for x in [*head, json.dumps(record).encode()]))
    return home, task.id


COMMANDS = [
    ("list",),
    ("list", "--all"),
    ("show", "{id}"),
    ("history",),
    ("history", "{id}"),
    ("sessions",),
    ("conflicts",),
    ("blame", "{id}"),
    ("ready",),
    ("verify",),
    ("show", "zz\x1b]0;x\x07zz"),  # an error that echoes what the user typed
    ("update", "{id}", "--owner", "x\x1b[2Jy"),  # an error that echoes the stored owner
]


def test_every_human_command_escapes_stored_text(hostile_home: tuple[Path, str]) -> None:
    home, tid = hostile_home
    env = proc_env(home, TASKLEDGER_SESSION="viewer", COLUMNS="80")
    for command in COMMANDS:
        argv = [*taskledger_argv(), *(c.replace("{id}", tid) for c in command)]
        text = check_bytes(pty_run(argv, env), " ".join(command))
        if command[0] in ("show", "list", "history") and "zz" not in command[-1]:
            assert "\\x1b" in text, (command, text)  # shown, as a visible escape
    shown = check_bytes(pty_run([*taskledger_argv(), "show", tid], env), "show")
    assert "line one" in shown and "line two" in shown  # a description keeps its lines


def test_watch_escapes_what_it_prints(hostile_home: tuple[Path, str]) -> None:
    home, tid = hostile_home
    env = proc_env(home, TASKLEDGER_SESSION="viewer", COLUMNS="80")
    writer = Ledger.open(home, "main", "mallory")
    marks: list[str] = []

    def poke() -> None:
        marks.append(f"m{len(marks)}")
        writer.update(tid, Edits(subject=f"{marks[-1]} {HOSTILE}"))

    def seen(out: bytes) -> bool:
        return any(f"{m} A".encode() in out for m in marks)

    raw = pty_run([*taskledger_argv(), "watch"], env, until=seen, poke=poke)
    check_bytes(raw, "watch")


def test_json_output_is_exact(hostile_home: tuple[Path, str]) -> None:
    home, tid = hostile_home
    proc = subprocess.run(
        [*taskledger_argv(), "show", tid, "--json"],
        env=proc_env(home, TASKLEDGER_SESSION="viewer"), capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["subject"] == f"subject {HOSTILE}"
    assert shown["owner"] == f"owner {HOSTILE}"
    assert shown["metadata"][f"key{HOSTILE}"] == f"value {HOSTILE}"
    assert [n["text"] for n in shown["notes"]] == [f"note {HOSTILE}"]
    # exact, yet nothing in the bytes can act on a terminal either
    assert FORBIDDEN.search(proc.stdout.decode().replace("\n", "")) is None


def test_long_reads_say_so_on_a_terminal_only(tmp_path: Path) -> None:
    from benchmarks._fixtures import bulk

    home = tmp_path / "tasks"
    bulk(home, "main", 800, 4)  # 4,000 ops, ~3 MB of logs, no cache yet
    env = proc_env(home, TASKLEDGER_SESSION="viewer")
    piped = subprocess.run([*taskledger_argv(), "verify"], env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    first = check_bytes(pty_run([*taskledger_argv(), "list", "--limit", "1"], env), "list")
    assert "reading 2.9 MB of logs" in first or "reading 3.0 MB of logs" in first, first
    again = check_bytes(pty_run([*taskledger_argv(), "list", "--limit", "1"], env), "list")
    assert "reading" not in again  # the cache answers
    checked = check_bytes(pty_run([*taskledger_argv(), "verify"], env), "verify")
    assert "verifying every log" in checked
