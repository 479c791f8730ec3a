"""taskledger's MCP server: the shared list as Task tools over stdio.

One server process per agent session. It opens the ledger once and keeps its
replay in memory: every call reads only the log bytes appended since the
previous one. Tool shapes follow Claude Code's own Task tools (docs/mcp.md).
Built on the official ``mcp`` SDK's low-level server; it uses only the public
API of ``ledger``.
"""

from __future__ import annotations

from ._serve import serve as serve
from ._tools import TOOLS as TOOLS
from ._tools import Tools as Tools
from ._tools import call as call

__all__ = ["TOOLS", "Tools", "call", "serve"]
