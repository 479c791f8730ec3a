"""This user's local taskledger server: short commands run in one process that keeps
each list open (``cli._client`` hands them over).

``python -m cli._server SOCKET`` -- started by the client, detached, when a
served command finds none. One server per socket: it takes an ``flock`` of
``SOCKET.lock`` first (the kernel drops it when the process ends, so it
never goes stale) and exits at once if another holds it. Only processes of
the same user are served (the socket's folder is private, and the peer's
credentials are checked). It exits after ``IDLE_S`` without a command, or
when its socket is removed or replaced.

A command runs exactly as in its own process -- the client's arguments,
environment and working folder; stdout and stderr captured (terminal or
not, as the client's are) and sent back with the exit code -- except that
its ``Ledger`` is a long-lived one, kept between commands (at most
``MAX_LEDGERS``, least recently used dropped): it reads only what was
appended since, like the MCP server's. A kept ledger is dropped and opened
afresh when the list's folders are not the ones it opened (removed,
replaced). After a command, once no other waits (and at least once a
second), the stats of the task files it wrote are written, and after a
second without a command the snapshot too, so a command in its own process
finds the folders as a command of its own would have left them. Commands
run one at a time; the collector runs between them.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import click

from ledger import Ledger, LedgerError

from . import _options, _query
from ._client import MAGIC
from ._memo import LineMemo

IDLE_S = float(os.environ.get("TASKLEDGER_SERVER_IDLE", "600"))
MAX_LEDGERS = 8
#: seconds a client has to send its command, and to confirm it wants it run
CLIENT_S = 5.0
#: run the full collector after this many commands, or once idle
COLLECT_EVERY = 500
#: write what the ledgers hold back at least this often under a stream of commands
FLUSH_S = 1.0
MAX_REQUEST = 64 << 20
#: the variables that choose what ``Ledger.open`` opens (a kept ledger is per value)
_ENV_PREFIXES = ("TASKLEDGER_", "CLAUDE_")
_ENV_NAMES = ("HOME", "LOGNAME", "USER", "LNAME", "USERNAME")

Identity = tuple[tuple[int, int] | None, ...]


def _identity(ledger: Ledger) -> Identity:
    """The list's folders as the kernel names them (None: absent)."""
    out: list[tuple[int, int] | None] = []
    layout = ledger.layout
    for path in (layout.data, layout.root, layout.logs, layout.root / "cache", layout.view):
        try:
            st = os.lstat(path)
            out.append((st.st_dev, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class Ledgers:
    """The long-lived ledgers commands open, by what chose them."""

    def __init__(self) -> None:
        self.kept: OrderedDict[tuple[object, ...], tuple[Ledger, Identity]] = OrderedDict()
        self.used: set[tuple[object, ...]] = set()
        self.unflushed: set[tuple[object, ...]] = set()

    def open(self, home: Path | None, list_id: str, session: str | None) -> Ledger:
        env = tuple(
            sorted((k, v) for k, v in os.environ.items()
                   if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES)
        )  # fmt: skip
        key = (str(Path.cwd()), None if home is None else str(home), list_id, session, env)
        found = self.kept.pop(key, None)
        if found is not None and found[1] != _identity(found[0]):
            found = None  # (dropped unwritten: what it holds is of the folders that went)
        ledger = found[0] if found is not None else Ledger.open(home, list_id, session)
        ledger.warnings.clear()
        ledger.last_op = None
        self.kept[key] = (ledger, _identity(ledger))
        self.used.add(key)
        while len(self.kept) > MAX_LEDGERS:
            _close(self.kept.popitem(last=False)[1][0])
        return ledger

    def settle(self) -> None:
        """After a command: remember the folders of the ledgers it used as they are now."""
        for key in self.used:
            found = self.kept.get(key)
            if found is not None:
                self.kept[key] = (found[0], _identity(found[0]))
        self.unflushed |= self.used
        self.used.clear()

    def flush(self, *, snapshot: bool) -> None:
        """Write the stats of the task files the ledgers used since the last flush wrote
        (``ledger/_carry.py``) -- and their snapshots, with ``snapshot`` -- so that a
        command in its own process finds the folders as a command leaves them."""
        for key in self.unflushed:
            found = self.kept.get(key)
            if found is not None:
                _close(found[0], snapshot)
        if snapshot:
            self.unflushed.clear()

    def close(self) -> None:
        self.unflushed.update(self.kept)
        self.flush(snapshot=True)
        self.kept.clear()


def _close(ledger: Ledger, snapshot: bool = True) -> None:
    with contextlib.suppress(LedgerError, OSError):  # (best effort: the logs are the truth)
        ledger.flush(snapshot=snapshot)


class _Out(io.TextIOWrapper):
    """A captured stdout or stderr that is a terminal if the client's is."""

    def __init__(self, tty: bool, encoding: str, errors: str) -> None:
        try:
            super().__init__(io.BytesIO(), encoding, errors, write_through=True)
        except LookupError:
            super().__init__(io.BytesIO(), "utf-8", "strict", write_through=True)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def taken(self) -> bytes:
        self.flush()
        buffer = self.buffer
        assert isinstance(buffer, io.BytesIO)
        return buffer.getvalue()


class Request:
    """A command as the client sent it (``cli._client.encode_request``)."""

    def __init__(self, body: bytes) -> None:
        fields = [os.fsdecode(f) for f in body.split(b"\0")]
        self.cwd, ttys = fields[0], fields[1]
        self.tty = (ttys[:1] == "1", ttys[1:2] == "1")
        self.encodings = ((fields[2], fields[3]), (fields[4], fields[5]))
        argc = int(fields[6])
        self.argv = fields[7 : 7 + argc]
        self.env = dict(f.partition("=")[::2] for f in fields[7 + argc :] if "=" in f)


@contextlib.contextmanager
def _as_client(request: Request) -> Iterator[tuple[_Out, _Out]]:
    """The client's environment, working folder and streams, for one command."""
    saved = sys.stdout, sys.stderr, sys.stdin
    os.environ.clear()
    os.environ.update(request.env)
    out = _Out(request.tty[0], *request.encodings[0])
    err = _Out(request.tty[1], *request.encodings[1])
    sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO()
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved


def run(request: Request) -> tuple[bytes, bytes, int]:
    """Run one command as the client would have: its stdout, stderr and exit code."""
    from ._main import cli

    with _as_client(request) as (out, err):
        code: int | str | None = 0  # (click's standalone main always ends in SystemExit)
        try:
            cli.main(args=request.argv, prog_name="taskledger", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code
        except Exception:
            traceback.print_exc()  # (as the interpreter would, exit 1)
            code = 1
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        return out.taken(), err.taken(), code or 0


def _peer_is_me(conn: socket.socket) -> bool:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    return bool(struct.unpack("3i", creds)[1] == os.getuid())


def _read(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(min(n - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return data


def _request(conn: socket.socket) -> Request | None:
    head = _read(conn, len(MAGIC) + 4)
    if head is None or head[: len(MAGIC)] != MAGIC:
        return None
    size = int.from_bytes(head[len(MAGIC) :], "big")
    body = None if size > MAX_REQUEST else _read(conn, size)
    if body is None:
        return None
    try:
        return Request(body)
    except (ValueError, IndexError):
        return None


def _frames(out: bytes, err: bytes, code: int) -> bytes:
    parts = []
    for kind, data in ((b"e", err), (b"o", out)):
        if data:
            parts += [kind, len(data).to_bytes(4, "big"), data]
    parts += [b"x", (code & 0xFFFFFFFF).to_bytes(4, "big")]
    return b"".join(parts)


def handle(conn: socket.socket, ledgers: Ledgers) -> None:
    """One client: its command, if it is one of ours and it still wants it run."""
    conn.settimeout(CLIENT_S)
    request = _request(conn) if _peer_is_me(conn) else None
    if request is None:
        return
    try:
        os.chdir(request.cwd)
    except OSError:
        conn.sendall(b"n")  # (the client runs it itself)
        return
    conn.sendall(b"s")
    if _read(conn, 1) != b"g":
        return  # it stopped waiting: it runs the command itself
    conn.settimeout(None)
    try:
        out, err, code = run(request)
    finally:
        ledgers.settle()
    conn.sendall(_frames(out, err, code))


def _preload() -> None:
    """Import the served commands and the write path now, not in the first command."""
    from ._client import COMMANDS
    from ._main import cli

    for name in COMMANDS:
        cli.get_command(click.Context(cli), name)
    import pycrdt  # noqa: F401  (what the first write would load)


def _claim(path: str) -> int | None:
    """The server's lock, held for life; None if another server holds it."""
    fd = os.open(path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # (who serves: ``docs/cli.md`` says how to stop it)
    return fd


def _ours(path: str, ino: int) -> bool:
    try:
        return os.lstat(path).st_ino == ino
    except OSError:
        return False


def serve(path: str) -> None:
    """Serve commands on ``path`` until idle for ``IDLE_S`` or the socket is not ours."""
    if _claim(path) is None:
        return
    Path(path).unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    ino = os.lstat(path).st_ino
    ledgers = Ledgers()
    _options.OPEN = ledgers.open
    _query.MEMO = LineMemo()
    _preload()
    gc.disable()  # (collected between commands, below)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    last = flushed = time.monotonic()
    since_collect = 0
    try:
        while True:
            ready, _, _ = select.select([listener], [], [], 1.0)
            if not ready:
                if since_collect:
                    ledgers.flush(snapshot=True)
                    gc.collect()
                    since_collect = 0
                if stopping or not _ours(path, ino) or time.monotonic() - last > IDLE_S:
                    return
                continue
            conn, _ = listener.accept()
            with conn, contextlib.suppress(OSError):
                handle(conn, ledgers)
            last = time.monotonic()
            # (once no one waits, or at least once a second: not inside the next command)
            if last - flushed > FLUSH_S or not select.select([listener], [], [], 0)[0]:
                ledgers.flush(snapshot=False)  # (the snapshot: throttled, as in the library)
                flushed = last
            since_collect += 1
            gc.collect(1)
            if since_collect >= COLLECT_EVERY:
                gc.collect()
                since_collect = 0
            if stopping:
                return
    finally:
        ledgers.close()
        if _ours(path, ino):
            Path(path).unlink(missing_ok=True)


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].endswith(".sock"):
        sys.stderr.write("usage: python -m cli._server SOCKET.sock\n")
        sys.exit(2)
    serve(sys.argv[1])
    os._exit(0)


if __name__ == "__main__":
    main()
