"""Sessions: who is running now (presence), and what each session did and holds.

Presence is kept out of the op log: a heartbeat every few seconds would
bloat the audit trail with records nobody needs to replay or merge. Instead
each running process (a ``watch``, an MCP server, the board) writes its own
small file, ``presence/<session>.<token>.json`` in the list's data folder,
that no other process writes::

    {"session": "alice", "kind": "watch", "pid": 4242, "host": "box",
     "started": 1795471859890, "heartbeat": 1795471864890, "interval": 5000}

It rewrites the file (temp + rename) every ``interval`` and removes it when it
stops cleanly. A session is *live* while one of its files has a heartbeat
younger than two intervals; a process killed without cleaning up turns idle
by itself. Files like this are local to one machine: replicas that only
exchange logs do not see each other's presence.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping

from . import _json
from ._datatype import datatype
from ._layout import Layout
from ._log import Record
from ._state import Row, State

# A presence file older than this is removed by the next process of its session.
_FORGET_MS = 24 * 3600 * 1000


@datatype(frozen=True)
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
        raw = _json.loads(data)
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


def read_presence(layout: Layout) -> list[Presence]:
    """Every readable presence file of the list."""
    try:
        folder = layout.open("presence")
    except OSError:
        return []
    if folder is None:
        return []
    out = []
    with folder:
        for name in folder.names():
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                data = folder.read(name, limit=4096)
            except OSError:
                continue
            found = None if data is None else _parse(data)
            if found is not None:
                out.append(found)
    return out


class Beacon:
    """The presence file of this process: beat it while running, remove it when done.

    Args:
        layout: the list.
        session: this process's session.
        kind: what runs (``watch``, ``mcp``).
        interval_ms: how often ``beat_if_due`` rewrites the file.
        clock: epoch-milliseconds clock.
    """

    def __init__(
        self,
        layout: Layout,
        session: str,
        kind: str,
        interval_ms: int,
        clock: Callable[[], int],
    ) -> None:
        self.layout = layout
        self.name = f"{session}.{secrets.token_hex(6)}.json"
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
        try:
            folder = self.layout.open("presence")
        except OSError:
            return
        if folder is None:
            return
        with folder:
            for name in folder.names():
                if not (name.startswith(f"{session}.") and name.endswith(".json")):
                    continue
                try:
                    data = folder.read(name, limit=4096)
                    stale = None if data is None else _parse(data)
                    if stale is not None and now - stale.heartbeat_ms > _FORGET_MS:
                        folder.unlink(name)
                except OSError:
                    continue

    def beat(self) -> bool:
        """Rewrite the presence file now; False when the folder refuses it."""
        now = self.clock()
        data = _json.dumps_bytes({**self._body, "heartbeat": now})
        try:
            folder = self.layout.open("presence", create=True)
            assert folder is not None
            with folder:
                folder.write_atomic(self.name, data)
        except OSError:
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
            folder = self.layout.open("presence")
            if folder is not None:
                with folder:
                    folder.unlink(self.name)
        except OSError:
            pass


@datatype(frozen=True)
class SessionInfo:
    """A session as the logs, leases and presence files show it.

    Attributes:
        session: its name.
        ops: how many ops it appended.
        last: its latest op (by HLC), if any.
        holds: live tasks it holds under a live lease now.
        running: its processes that announce themselves and beat now (a
            ``watch``, an MCP server); the session is *live* if there is one.
        machines: the machines its writers are on, each with when it last
            synced (epoch ms; None for this machine, or one never synced).
    """

    session: str
    ops: int
    last: Record | None
    holds: tuple[Row, ...]
    running: tuple[Presence, ...] = ()
    machines: tuple[tuple[str, int | None], ...] = ()

    @property
    def live(self) -> bool:
        """True while one of the session's processes is running (by its heartbeat)."""
        return bool(self.running)


def sessions(
    records: Iterable[Record],
    state: State,
    running: Iterable[Presence],
    now_ms: int,
    machine_of: Mapping[str, tuple[str, int | None]] | None = None,
) -> list[SessionInfo]:
    """Every session seen in the logs or running now: activity, holdings, liveness,
    and (``machine_of``: writer -> (machine, last sync)) where its writers are."""
    last: dict[str, Record] = {}
    count: dict[str, int] = {}
    where: dict[str, set[tuple[str, int | None]]] = {}
    for record in records:
        last[record.session] = record
        count[record.session] = count.get(record.session, 0) + 1
        machine = (machine_of or {}).get(record.writer)
        if machine is not None:
            where.setdefault(record.session, set()).add(machine)
    holds: dict[str, list[Row]] = {}
    for row in state.live_rows():
        holder = row.holder(now_ms)
        if holder is not None:
            holds.setdefault(holder, []).append(row)
    live: dict[str, list[Presence]] = {}
    for found in running:
        if found.live(now_ms):
            live.setdefault(found.session, []).append(found)
    return [
        SessionInfo(
            name,
            count.get(name, 0),
            last.get(name),
            tuple(holds.get(name, ())),
            tuple(sorted(live.get(name, ()), key=lambda p: p.started_ms)),
            tuple(sorted(where.get(name, ()), key=lambda m: m[0])),
        )
        for name in sorted(set(last) | set(holds) | set(live))
    ]
