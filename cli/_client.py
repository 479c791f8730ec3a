"""The ``taskledger`` entry point: hand a short command to this user's local server.

A command run in a fresh process pays for Python, click and the ledger's
modules, then reads the list's cache: at 10k tasks an ``update`` took ~2.4
times a hello-world click command, at 100k ~7 times (docs/performance.md).
A server that keeps the list open (``cli._server``) answers the same command
in a few milliseconds, so this module -- imported by the console script
before anything else -- imports nothing but the interpreter's built-ins,
connects to it, sends the command line, the environment and the working
folder, and copies back what the command printed and its exit code.

It falls back to running the command here, in this process, whenever the
server cannot take it: ``$TASKLEDGER_SERVER`` is ``off``; the command is not
one it serves (``COMMANDS``: long-running ones, and anything reading standard
input, stay here); no server is running (one is started for the next command,
unless the variable says ``manual``) or it is busy for ``WAIT_S``. A command
the server has started is never run a second time here: if the server ends
before answering, the command says so and exits 1 (``history`` tells whether
its op was appended). ``$TASKLEDGER_SERVER=require`` makes a missing server
an error (exit 1) instead, for tests and scripts that need to know.

The protocol is private to one installed version (the socket's name carries
the interpreter and a stamp of this package's files, so a changed install
talks to a new server; ``docs/cli.md``).
"""

from __future__ import annotations

import _socket
import os
import sys

#: the commands the server runs (short ones that neither read stdin nor stream)
COMMANDS = frozenset(
    {"create", "list", "show", "update", "note", "delete", "claim", "release", "ready"}
)
#: seconds to wait for a busy server to start the command before running it here
WAIT_S = 2.0
MAGIC = b"TL1\0"
#: exit code when the server ended after starting the command (its outcome unknown)
EXIT_LOST = 1


def _package_dirs() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    return [here, os.path.join(os.path.dirname(here), "ledger")]


def code_stamp() -> str:
    """A short hash of this interpreter and of every module file of ``cli`` and ``ledger``
    (name, size, mtime): a server started by other code has another socket."""
    parts = [sys.executable, sys.version]
    for folder in _package_dirs():
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".py"):
                        st = entry.stat()
                        parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{folder}:missing")
    parts.sort()
    value = 0xCBF29CE484222325  # 64-bit FNV-1a: no hashlib import for this
    for byte in "\n".join(parts).encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def runtime_dir() -> str | None:
    """This user's folder for the server's socket, made private; None if it is not
    ours alone (then no server is used)."""
    base = os.environ.get("TASKLEDGER_RUNTIME_DIR")
    if not base:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = os.path.join(xdg, "taskledger") if xdg else f"/tmp/taskledger-{os.getuid()}"
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(base)
    except OSError:
        return None
    private = st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0
    return base if private and (st.st_mode & 0o170000) == 0o040000 else None


def socket_path(folder: str) -> str | None:
    """The server's socket for this code, None when too long a path for a socket."""
    path = os.path.join(folder, f"{code_stamp()}.sock")
    return path if len(os.fsencode(path)) < 100 else None  # (sun_path holds 108 bytes)


def encode_request(argv: list[str]) -> bytes:
    """The command line, the working folder, the environment and how stdout and
    stderr look (terminal or not, encoding), NUL-separated (none can hold a NUL)."""
    env = dict(os.environ)
    outs = (sys.stdout, sys.stderr)
    ttys = "".join("1" if _isatty(s) else "0" for s in outs)
    if ttys[0] == "1" and "COLUMNS" not in env:
        try:
            env["COLUMNS"] = str(os.get_terminal_size(sys.stdout.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            pass
    fields = [os.getcwd(), ttys]
    for stream in outs:
        fields += [getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None)
                   or "strict"]  # fmt: skip
    fields += [str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
    body = b"\0".join(os.fsencode(f) for f in fields)
    return MAGIC + len(body).to_bytes(4, "big") + body


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


class _Conn:
    """A connection to the server, read in frames: a kind byte, then for ``o``/``e``
    (stdout/stderr) a 4-byte length and the bytes, for ``x`` a 4-byte exit code."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def read(self, n: int) -> bytes | None:
        parts, have = [self.buf], len(self.buf)
        while have < n:  # (joined once: a 4 MB table arrives in many chunks)
            chunk = self.sock.recv(max(65536, n - have))
            if not chunk:
                return None
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self.buf = data[n:]
        return data[:n]


def _connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _serve(sock: _socket.socket, argv: list[str]) -> int | None:
    """Have the server run the command; its exit code, or None to run it here."""
    conn = _Conn(sock)
    try:
        sock.sendall(encode_request(argv))
        sock.settimeout(WAIT_S)
        if conn.read(1) != b"s":  # refused, or gone before it started
            return None
        sock.sendall(b"g")  # from here on the command is the server's
        sock.settimeout(None)
    except OSError:  # (a timeout too: the server is busy)
        return None
    try:
        return _relay(conn)
    except OSError as exc:
        return _lost(f"the connection broke ({exc})")


def _relay(conn: _Conn) -> int:
    while True:
        kind = conn.read(1)
        head = None if kind is None else conn.read(4)
        if kind is None or head is None:
            return _lost("it ended before answering")
        size = int.from_bytes(head, "big")
        if kind == b"x":
            return size
        data = conn.read(size)
        if data is None or kind not in (b"o", b"e"):
            return _lost("it sent a broken answer")
        stream = sys.stdout if kind == b"o" else sys.stderr
        try:
            stream.buffer.write(data)
            stream.buffer.flush()
        except BrokenPipeError:
            if kind == b"o":
                return 1  # (``taskledger list | head``: quietly 1, as in-process)


def _lost(why: str) -> int:
    sys.stderr.write(
        f"Error: the taskledger server started this command but {why}; whether it was "
        "applied is unknown (`taskledger history` shows the ops appended)\n"
    )
    return EXIT_LOST


def _spawn(folder: str, path: str) -> None:
    """Start a server for the next command, detached (it ends itself when idle)."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = path[: -len(".sock")] + ".log"
    argv = [sys.executable, "-P", "-m", "cli._server", path]
    try:
        os.posix_spawn(
            sys.executable, argv, env, setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
        )  # fmt: skip
    except OSError:
        pass  # no server then: every command runs in its own process


def main() -> None:
    """Console-script entry point: the server runs the command if it can, else this process."""
    mode = os.environ.get("TASKLEDGER_SERVER", "auto").strip().lower()
    argv = sys.argv[1:]
    served = mode != "off" and bool(argv) and argv[0] in COMMANDS and "-" not in argv[1:]
    if served:
        folder = runtime_dir()
        path = None if folder is None else socket_path(folder)
        sock = None if path is None else _connect(path)
        if sock is not None:
            code = _serve(sock, argv)
            sock.close()
            if code is not None:
                _exit(code)
        if mode == "require":
            sys.stderr.write(f"Error: no taskledger server could take this command ({path})\n")
            _exit(1)
        if sock is None and folder is not None and path is not None and mode != "manual":
            _spawn(folder, path)
    from ._main import main as in_process

    in_process()


def _exit(code: int) -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 1
    os._exit(code)
