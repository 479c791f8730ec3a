"""taskledger's live board: the shared list in a browser, updated as changes land.

``taskledger board`` serves it (``board.serve``): a local page (127.0.0.1 by
default) with the tasks in columns by status, the sessions, the dependency
graph, each task's audit trail, and the board as of any moment. The page is
static files of this package and updates from a server-sent event stream fed
by the same follower ``watch`` uses; nothing is fetched from the network.
Needs the ``board`` extra (starlette, uvicorn).
"""

from __future__ import annotations

from ._app import Board as Board
from ._app import create_app as create_app
from ._serve import serve as serve

__all__ = ["Board", "create_app", "serve"]
