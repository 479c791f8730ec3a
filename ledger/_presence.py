"""Presence: which sessions are running now (a ``watch``, an MCP server).

Presence is kept out of the op log: a heartbeat every few seconds would
bloat the audit trail with records nobody needs to replay or merge. Instead
each running process writes its own small file,
``.ledger/presence/<session>.<token>.json``, that no other process writes:

    {"session": "alice", "kind": "watch", "pid": 4242, "host": "box",
     "started": 1795471859890, "heartbeat": 1795471864890, "interval": 5000}

It rewrites the file (temp + rename) every ``interval`` and removes it when it
stops cleanly. A session is *live* while one of its files has a heartbeat
younger than two intervals; a process killed without cleaning up turns idle
by itself. Files like this are local to one file system: replicas that only
exchange logs do not see each other's presence.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._log import make_dirs

# A presence file older than this is removed by the next process of its session.
_FORGET_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Presence:
    """One running process of a session, as its presence file says.

    Attributes:
        session: the session.
        kind: what runs (``watch``, ``mcp``).
        pid: its process id.
        host: its host name.
        started_ms: when it started.
        heartbeat_ms: its latest heartbeat.
        interval_ms: how often it beats.
    """

    session: str
    kind: str
    pid: int
    host: str
    started_ms: int
    heartbeat_ms: int
    interval_ms: int

    def live(self, now_ms: int) -> bool:
        """True while the heartbeat is younger than two intervals."""
        return now_ms - self.heartbeat_ms < 2 * self.interval_ms


def _parse(data: bytes) -> Presence | None:
    try:
        raw = json.loads(data)
        found = Presence(
            raw["session"],
            raw["kind"],
            raw["pid"],
            raw["host"],
            raw["started"],
            raw["heartbeat"],
            raw["interval"],
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if not all(type(v) is int for v in (found.pid, found.started_ms, found.heartbeat_ms)):
        return None
    if type(found.interval_ms) is not int or not isinstance(found.session, str):
        return None
    return found


def read_presence(folder: Path) -> list[Presence]:
    """Every readable presence file in the folder."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    out = []
    for path in entries:
        if path.suffix != ".json" or path.name.startswith("."):
            continue
        try:
            found = _parse(path.read_bytes())
        except OSError:
            continue
        if found is not None:
            out.append(found)
    return out


class Beacon:
    """The presence file of this process: beat it while running, remove it when done.

    Args:
        folder: the ``.ledger/presence`` folder.
        session: this process's session.
        kind: what runs (``watch``, ``mcp``).
        interval_ms: how often ``beat_if_due`` rewrites the file.
        clock: epoch-milliseconds clock.
    """

    def __init__(
        self,
        folder: Path,
        session: str,
        kind: str,
        interval_ms: int,
        clock: Callable[[], int],
    ) -> None:
        self.folder = folder
        self.path = folder / f"{session}.{secrets.token_hex(6)}.json"
        self.clock = clock
        self.interval_ms = interval_ms
        self._body = {
            "session": session,
            "kind": kind,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": clock(),
            "interval": interval_ms,
        }
        self._last = -interval_ms
        self._forget_stale(session)

    def _forget_stale(self, session: str) -> None:
        """Remove this session's presence files that stopped beating a day ago."""
        now = self.clock()
        for path in self.folder.glob(f"{session}.*.json"):
            try:
                stale = _parse(path.read_bytes())
                if stale is not None and now - stale.heartbeat_ms > _FORGET_MS:
                    path.unlink()
            except OSError:
                continue

    def beat(self) -> bool:
        """Rewrite the presence file now; False when the folder refuses it."""
        now = self.clock()
        data = json.dumps({**self._body, "heartbeat": now}).encode()
        tmp = self.folder / f".{self.path.name}.{secrets.token_hex(4)}.tmp"
        try:
            make_dirs(self.folder)
            tmp.write_bytes(data)
            tmp.replace(self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            return False
        self._last = now
        return True

    def beat_if_due(self) -> None:
        """Beat when an interval has passed since the last beat."""
        if self.clock() - self._last >= self.interval_ms:
            self.beat()

    def stop(self) -> None:
        """Remove the presence file (the session turns idle at once)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
