"""Serving the tools over stdio with the official MCP SDK, with a presence heartbeat."""

from __future__ import annotations

import gc
import json
import logging
from typing import TYPE_CHECKING, Any

from ledger import Beacon, Json, Ledger, __version__

from ._tools import TOOLS, Tools, call

if TYPE_CHECKING:
    from mcp.types import CallToolResult

HEARTBEAT_S = 5.0
#: after the first call (which reads the list) and then every this many, what the
#: process holds is moved out of the collector's reach (``gc.freeze``): a full
#: collection walking a 10k list's objects took ~50 ms, the calls' p99 (a cycle
#: frozen alive and dropped later is never collected: one in 500 calls keeps that small)
FREEZE_EVERY = 500


def _answer(result: Json, error: str | None, arguments: dict[str, Any] | None) -> CallToolResult:
    """A tool's result (or error) as the SDK's ``CallToolResult``."""
    import mcp.types as types

    if error is not None:
        payload: dict[str, Any] = {"success": False, "error": error}
        if arguments and isinstance(arguments.get("taskId"), str):
            payload["taskId"] = arguments["taskId"]
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"Error: {error}")],
            structured_content=payload,
            is_error=True,
        )
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    structured = result if isinstance(result, dict) else {"tasks": result}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured
    )


def serve(ledger: Ledger) -> None:
    """Serve the tools over stdio until the client closes stdin.

    Raises:
        ImportError: when the MCP SDK is not installed.
    """
    import anyio
    import mcp.types as types
    from mcp.server import Server as McpServer
    from mcp.server.stdio import stdio_server

    logging.getLogger("mcp").addHandler(logging.NullHandler())
    tools = Tools(ledger)
    listed = [
        types.Tool(name=t.name, description=t.description, input_schema=t.schema) for t in TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    calls = 0

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        nonlocal calls
        result, error = call(tools, params.name, params.arguments)
        calls += 1
        if calls % FREEZE_EVERY == 1:
            gc.collect()  # (what is frozen is never collected: garbage first)
            gc.freeze()
        return _answer(result, error, params.arguments)

    app = McpServer(
        "taskledger", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool
    )
    beacon = Beacon(ledger.layout, ledger.session, "mcp", int(HEARTBEAT_S * 1000), ledger.clock)

    async def heartbeat() -> None:
        while True:
            beacon.beat()
            await anyio.sleep(HEARTBEAT_S)

    async def main() -> None:
        ledger.layout.open("logs", create=True)
        async with stdio_server() as (read, write), anyio.create_task_group() as group:
            group.start_soon(heartbeat)
            await app.run(read, write, app.create_initialization_options())
            group.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        beacon.stop()
