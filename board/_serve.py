"""Serving a board: uvicorn on a local socket, and the follower that feeds its stream."""

from __future__ import annotations

import socket
import threading
from typing import Any

from ledger import Filter, Follower, Layout, Ledger, record_json

from ._app import LOOPBACK, Board, card, create_app


def _touched(records: list[Any]) -> set[str]:
    out = set()
    for record in records:
        out.add(record.task)
        for side in ("blocks", "blockedBy"):
            edges = record.fields.get(side)
            if isinstance(edges, dict):
                out.update(edges)
    return out


def follow(board: Board, stop: threading.Event) -> None:
    """Publish every batch of new ops to the board's pages, until ``stop``."""
    ledger = Ledger(board.layout, board.session)
    follower = Follower(ledger, presence="board", only=Filter())
    follower.stop_event = stop
    with follower:
        for batch in follower:
            state = ledger.seen()
            now = ledger.clock()
            records = [e.record for e in batch]
            cards = [card(state, state.rows[t], now) for t in sorted(_touched(records))
                     if t in state.rows]  # fmt: skip
            board.publish({
                "type": "change",
                "records": [{**record_json(r, state), "short": state.short(r.task)}
                            for r in records],
                "cards": cards,
                "edges": any("blocks" in r.fields or "blockedBy" in r.fields or r.kind in
                             ("create", "delete") or "status" in r.fields for r in records),
            })  # fmt: skip
            ledger.warnings.clear()


def serve(layout: Layout, session: str, host: str, port: int, token: str | None,
          announce: Any) -> None:  # fmt: skip
    """Serve the board until interrupted; ``announce(url)`` is told where, once listening."""
    import uvicorn

    board = Board(layout, session, token)
    # bound to a loopback address, only its names are answered (no DNS rebinding)
    app = create_app(board, LOOPBACK if host.lower().strip("[]") in LOOPBACK else None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    url = f"http://{host if family == socket.AF_INET else f'[{host}]'}:{sock.getsockname()[1]}/"
    stop = threading.Event()
    threading.Thread(target=follow, args=(board, stop), name="board-follower", daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    announce(url)
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
