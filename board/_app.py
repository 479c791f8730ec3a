"""The board's web application: JSON views of the list, a live event stream, and writes."""

from __future__ import annotations

import asyncio
import hmac
import json
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger import (
    Contention,
    DependencyGraph,
    Edits,
    InvalidValue,
    Layout,
    Ledger,
    LedgerError,
    NotFound,
    State,
    Status,
    conflict_json,
    dependency_graph,
    record_json,
    session_json,
    task_json,
    to_dot,
)

STATIC = Path(__file__).resolve().parent / "static"
#: at most this many cards per column are sent; the page says how many more there are
CARDS_PER_COLUMN = 400
#: what a write may do
ACTIONS = ("claim", "release", "complete", "note")


def card(state: State, row: Any, now_ms: int) -> dict[str, Any]:
    """One card: what the board shows of a task, from its row alone."""
    blockers = [
        state.short(b)
        for b in state.edges.blocked_by.get(row.id, ())
        if b in state.rows and state.rows[b].status != "completed"
    ]
    return {
        "id": row.id,
        "short": row.short,
        "subject": row.subject,
        "status": row.status,
        "owner": row.owner,
        "holder": row.holder(now_ms),
        "leaseUntil": row.lease_until if row.holder(now_ms) else None,
        "blockers": blockers,
        "notes": row.notes,
        "ready": state.is_ready(row, now_ms),
    }


class Board:
    """The list behind one board: a reader, an optional writer, and the live stream.

    Args:
        layout: the list.
        session: the session writes are made as (``--allow-writes``).
        token: the secret a write must carry; None: the board is read-only.
    """

    def __init__(self, layout: Layout, session: str, token: str | None) -> None:
        self.layout = layout
        self.session = session
        self.token = token
        self.lock = threading.Lock()
        self.reader = Ledger(layout, session)
        self.clients: set[asyncio.Queue[str]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.version = 0

    # ---------------------------------------------------------------- reads

    def view(self, at_ms: int | None = None) -> dict[str, Any]:
        """The whole board: cards by status, sessions, and the board's bounds in time."""
        with self.lock:
            now = self.reader.clock()
            state = self.reader.state() if at_ms is None else self.reader.state_at(at_ms)
            columns: dict[str, list[dict[str, Any]]] = {s.value: [] for s in Status}
            counts = dict.fromkeys(columns, 0)
            for row in state.live_rows():
                counts[row.status] = counts.get(row.status, 0) + 1
                if len(columns.get(row.status, ())) < CARDS_PER_COLUMN:
                    columns.setdefault(row.status, []).append(card(state, row, at_ms or now))
            sessions = [] if at_ms is not None else self._sessions()
            first = self._first_op_ms()
            self.reader.warnings.clear()
        return {"columns": columns, "counts": counts, "sessions": sessions, "now": now,
                "at": at_ms, "first": first, "version": self.version,
                "writes": self.token is not None}  # fmt: skip

    def _sessions(self) -> list[dict[str, Any]]:
        state = self.reader.seen()
        out = []
        for info in self.reader.sessions():
            shaped: dict[str, Any] = dict(session_json(info, state))
            shaped["holds"] = [{**h, "short": state.short(str(h["task"]))} for h in shaped["holds"]]
            out.append(shaped)
        return out

    def _first_op_ms(self) -> int | None:
        rows = self.reader.seen().rows
        if not rows:
            return None
        first = next(iter(rows.values()))
        return first.created[0] if first.created else None

    def detail(self, ref: str) -> dict[str, Any]:
        """A task with its description, notes, audit trail and conflicts."""
        with self.lock:
            state = self.reader.state()
            task = state.find(ref)
            now = self.reader.clock()
            history = [record_json(r, state) for r in self.reader.history(task.id)]
            conflicts = [conflict_json(c, state) for c in self.reader.conflicts(task.id)]
            self.reader.warnings.clear()
            return {"task": task_json(task, state, now), "history": history, "conflicts": conflicts}

    def graph(self) -> tuple[str, list[tuple[str, str]], list[dict[str, Any]]]:
        """The open tasks' graph: DOT source, edges by short id, and nodes."""
        with self.lock:
            state = self.reader.state()
            found = dependency_graph(state, self.reader.clock(), open_only=True)
            linked = {t for edge in found.edges for t in edge}
            if linked:  # tasks with no dependency at all are in the columns already
                kept = tuple(n for n in found.nodes if n[0] in linked)
                found = DependencyGraph(kept, found.edges)
            shorts = {n[0]: n[1] for n in found.nodes}
            edges = [(shorts[a], shorts[b]) for a, b in found.edges]
            nodes = [{"short": n[1], "subject": n[2], "ready": n[4]} for n in found.nodes]
            return to_dot(found, "TB"), edges, nodes

    # --------------------------------------------------------------- writes

    def write(self, ref: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Claim, release, complete or note a task as the board's session."""
        with self.lock:
            writer = self.reader
            if action == "claim":
                task = writer.claim(ref)
            elif action == "release":
                task = writer.release(ref)
            elif action == "complete":
                task = writer.update(ref, Edits(status=Status.COMPLETED))
            elif action == "note":
                text = body.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise LedgerError("a note needs text")
                task = writer.note(ref, text)
            else:
                raise InvalidValue(f"no action {action!r}")
            state = writer.seen()
            return task_json(task, state, writer.clock())

    # ---------------------------------------------------------------- live

    def publish(self, message: dict[str, Any]) -> None:
        """Hand an event to every open page (called from the follower's thread)."""
        self.version += 1
        data = json.dumps({**message, "version": self.version}, ensure_ascii=True)
        loop = self.loop
        if loop is None:
            return
        for queue in list(self.clients):
            loop.call_soon_threadsafe(queue.put_nowait, data)


def _board(request: Request) -> Board:
    board: Board = request.app.state.board
    return board


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=_NO_CACHE)


async def _static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ("board.js", "board.css"):
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(STATIC / name, headers=_NO_CACHE)


async def _state(request: Request) -> Response:
    at = request.query_params.get("at")
    at_ms = None
    if at:
        if not at.isdigit() or len(at) > 16:
            return JSONResponse({"error": "at must be epoch milliseconds"}, status_code=400)
        at_ms = int(at)
    return JSONResponse(await asyncio.to_thread(_board(request).view, at_ms))


async def _sessions(request: Request) -> Response:
    board = _board(request)

    def read() -> list[dict[str, Any]]:
        with board.lock:
            return board._sessions()

    return JSONResponse(await asyncio.to_thread(read))


async def _task(request: Request) -> Response:
    try:
        detail = await asyncio.to_thread(_board(request).detail, request.path_params["ref"])
    except LedgerError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    return JSONResponse(detail)


async def _graph_svg(request: Request) -> Response:
    dot, _, _ = await asyncio.to_thread(_board(request).graph)
    if shutil.which("dot") is None:
        return PlainTextResponse("Graphviz (dot) is not installed", status_code=503)
    svg = await asyncio.to_thread(
        subprocess.run, ["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60
    )
    if svg.returncode != 0:
        return PlainTextResponse("graphviz failed", status_code=500)
    return Response(svg.stdout, media_type="image/svg+xml", headers=_NO_CACHE)


async def _graph_json(request: Request) -> Response:
    _, edges, nodes = await asyncio.to_thread(_board(request).graph)
    return JSONResponse({"edges": edges, "nodes": nodes})


async def _events(request: Request) -> Response:
    board = _board(request)
    board.loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    board.clients.add(queue)

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"data: {data}\n\n"
        finally:
            board.clients.discard(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=_NO_CACHE)


async def _write(request: Request) -> Response:
    board = _board(request)
    given = request.headers.get("x-board-token", "")
    if board.token is None or not hmac.compare_digest(given, board.token):
        return JSONResponse({"error": "writes need the board's token"}, status_code=403)
    ref, action = request.path_params["ref"], request.path_params["action"]
    if action not in ACTIONS:
        return JSONResponse({"error": f"no action {action!r}"}, status_code=404)
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    try:
        done = await asyncio.to_thread(
            board.write, ref, action, body if isinstance(body, dict) else {}
        )
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except Contention as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    except LedgerError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(done)


#: the names a board bound to a loopback address answers to
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port (``[::1]:8787`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class OnlyHosts:
    """Refuse a request whose ``Host`` is not one of ``hosts`` (400).

    A page on any site can point a name of its own at 127.0.0.1 (DNS
    rebinding) and then read the board as same-origin; the ``Host`` header
    it sends still names that site.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and host_name(Headers(scope=scope).get("host", "")) not in (
            self.hosts
        ):
            await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(board: Board, hosts: frozenset[str] | None = None) -> Starlette:
    """The starlette application of a board; ``hosts``: the only ``Host`` names it answers."""
    app = Starlette(
        routes=[
            Route("/", _index),
            Route("/static/{name}", _static),
            Route("/api/state", _state),
            Route("/api/sessions", _sessions),
            Route("/api/task/{ref}", _task),
            Route("/api/graph.svg", _graph_svg),
            Route("/api/graph.json", _graph_json),
            Route("/events", _events),
            Route("/api/task/{ref}/{action}", _write, methods=["POST"]),
        ]
    )
    app.state.board = board
    if hosts is not None:
        app.add_middleware(OnlyHosts, hosts=hosts)
    return app


_NO_CACHE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
             "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; "
             "script-src 'self'; connect-src 'self'"}  # fmt: skip
