"""``taskledger mcp``: the shared ledger as Task tools over MCP (stdio).

One server process per agent session. It opens the ledger once and keeps
its replica warm: every call reads only the log bytes appended since the
previous one, so a call costs a fraction of a CLI start. Tool shapes follow
Claude Code's own TaskCreate / TaskUpdate / TaskList / TaskGet, plus claims,
notes and the audit trail (docs/mcp.md).

Built on the official ``mcp`` SDK's low-level server: the input schemas are
written here and every argument is checked here, so a bad call gets a tool
error that says what is wrong, never a traceback. A library error
(unknown id, blocked, held by another session) is a tool error too
(``isError``), with the same message the CLI prints.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger import Edits, Json, Ledger, LedgerError, Status, Task, TaskDeleted, check_session

from ._audit import conflict_json
from ._options import SessionName, home_option, list_option
from ._output import record_json

if TYPE_CHECKING:
    from ledger import Row, State

HEARTBEAT_S = 5.0


class BadArguments(Exception):
    """A call whose arguments do not fit the tool's schema."""


# ----------------------------------------------------------------- schemas

_STR = {"type": "string"}
_ID = {
    "type": "string",
    "description": "Task id (or a unique prefix of it, at least 4 characters).",
}
_IDS = {"type": "array", "items": {"type": "string"}}
_LEASE = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "How long the claim lasts unless renewed (default 1800 = 30 minutes). "
    "Any update or note you make on the task renews it.",
}


def _schema(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, description for the model, input schema and implementation."""

    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[Server, dict[str, Any]], Json]


# ---------------------------------------------------------- argument checks


def _check(args: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Check ``args`` against one of the flat schemas above; return them as a dict."""
    if not isinstance(args, Mapping):
        raise BadArguments("arguments must be an object")
    props = schema["properties"]
    for key in args:
        if key not in props:
            raise BadArguments(f"unknown argument {key!r} (known: {', '.join(props)})")
    for key in schema["required"]:
        if args.get(key) is None:
            raise BadArguments(f"missing required argument {key!r}")
    for key, value in args.items():
        if value is None:
            continue  # an optional argument given as null means: not given
        _check_value(key, value, props[key])
    return {k: v for k, v in args.items() if v is not None}


def _check_value(key: str, value: Any, prop: dict[str, Any]) -> None:
    kind = str(prop["type"])
    ok = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: type(v) is int,
        "number": lambda v: type(v) in (int, float) and math.isfinite(v),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    }[kind](value)
    if not ok:
        expected = "array of strings" if kind == "array" else kind
        raise BadArguments(f"argument {key!r} must be {expected}, not {json.dumps(value)[:60]}")
    if "enum" in prop and value not in prop["enum"]:
        raise BadArguments(f"argument {key!r} must be one of {', '.join(prop['enum'])}")
    if (
        kind in ("integer", "number")
        and "exclusiveMinimum" in prop
        and not value > prop["exclusiveMinimum"]
    ):
        raise BadArguments(f"argument {key!r} must be greater than {prop['exclusiveMinimum']}")
    if kind == "integer" and "minimum" in prop and value < prop["minimum"]:
        raise BadArguments(f"argument {key!r} must be at least {prop['minimum']}")


# ------------------------------------------------------------------ shapes


def _row(task: Task | Row, state: State) -> dict[str, Json]:
    """TaskList's shape: id, subject, status, owner (when set), open blockers."""
    status = task.status if isinstance(task.status, str) else task.status.value
    out: dict[str, Json] = {"id": task.id, "subject": task.subject, "status": status}
    if task.owner:
        out["owner"] = task.owner
    out["blockedBy"] = list(state.open_blockers(task))
    return out


def _lease(task: Task, now_ms: int) -> Json:
    lease = task.lease
    if lease is None:
        return None
    return {"holder": lease.holder, "until": lease.until, "live": task.holder(now_ms) is not None}


def _full(task: Task, state: State, now_ms: int) -> dict[str, Json]:
    """TaskGet's shape: Claude Code's task fields, then notes, lease and readiness."""
    out = task.claude_json()
    out["openBlockers"] = list(state.open_blockers(task))
    out["notes"] = [
        {"text": n.text, "session": n.stamp.session, "at": n.stamp.at} for n in task.notes
    ]
    out["lease"] = _lease(task, now_ms)
    out["ready"] = state.is_ready(task, now_ms)
    return out


# ------------------------------------------------------------------- tools


class Server:
    """The tools' implementation on one long-lived ledger (no MCP here).

    Args:
        ledger: the ledger, opened for this server's session.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def state(self) -> State:
        """The state with every log read up to now (only new bytes are read)."""
        return self.ledger.read_new()

    def task(self, ref: str) -> tuple[Task, State]:
        state = self.state()
        task = state.tasks[state.resolve(ref)]
        if task.deleted:
            raise TaskDeleted(f"task {state.short(task.id)} is deleted")
        return task, state

    # -- Claude Code's four

    def create(self, args: dict[str, Any]) -> Json:
        meta = args.get("metadata", {})
        task = self.ledger.create(
            Edits(
                subject=args["subject"],
                description=args["description"],
                active_form=args.get("activeForm"),
                set_meta={k: v for k, v in meta.items() if v is not None},
            )
        )
        return {"task": {"id": task.id, "subject": task.subject}}

    def update(self, args: dict[str, Any]) -> Json:
        before, _ = self.task(args["taskId"])
        status = args.get("status")
        meta = args.get("metadata", {})
        edits = Edits(
            subject=args.get("subject"),
            description=args.get("description"),
            active_form=args.get("activeForm"),
            status=None if status in (None, "deleted") else Status(status),
            owner=args.get("owner"),
            add_blocks=args.get("addBlocks", ()),
            add_blocked_by=args.get("addBlockedBy", ()),
            set_meta={k: v for k, v in meta.items() if v is not None},
            unset_meta=[k for k, v in meta.items() if v is None and k in before.meta()],
        )
        force = bool(args.get("force"))
        after = before
        if not edits.is_empty():
            after = self.ledger.update(before.id, edits, force=force)
        if status == "deleted":
            after = self.ledger.delete(before.id, force=force)
        out: dict[str, Json] = {
            "success": True,
            "taskId": before.id,
            "updatedFields": list[Json](_changed_fields(before, after)),
        }
        new_status = "deleted" if after.deleted else after.status.value
        if new_status != before.status.value:
            out["statusChange"] = {"from": before.status.value, "to": new_status}
        return out

    def list(self, args: dict[str, Any]) -> Json:
        state = self.state()
        return [_row(row, state) for row in state.live_rows()]

    def get(self, args: dict[str, Any]) -> Json:
        task, state = self.task(args["taskId"])
        return {"task": _full(task, state, self.ledger.clock())}

    # -- beyond them

    def claim(self, args: dict[str, Any]) -> Json:
        task = self.ledger.claim(
            args["taskId"],
            lease_seconds=args.get("leaseSeconds", 1800),
            force=bool(args.get("force")),
        )
        return {"task": _full(task, self.ledger.read_new(), self.ledger.clock())}

    def release(self, args: dict[str, Any]) -> Json:
        task = self.ledger.release(args["taskId"])
        return {"task": _row(task, self.ledger.read_new())}

    def ready(self, args: dict[str, Any]) -> Json:
        if args.get("claim"):
            task = self.ledger.claim_ready(lease_seconds=args.get("leaseSeconds", 1800))
            return {"claimed": _full(task, self.ledger.read_new(), self.ledger.clock())}
        state = self.state()
        now = self.ledger.clock()
        return {"ready": [_row(r, state) for r in state.live_rows() if state.is_ready(r, now)]}

    def note(self, args: dict[str, Any]) -> Json:
        task = self.ledger.note(args["taskId"], args["text"])
        return {"success": True, "taskId": task.id, "notes": len(task.notes)}

    def history(self, args: dict[str, Any]) -> Json:
        state = self.state()
        records = self.ledger.history(args.get("taskId"), limit=args.get("limit", 50))
        return {"ops": [record_json(r, state) for r in records]}

    def conflicts(self, args: dict[str, Any]) -> Json:
        state = self.state()
        found = self.ledger.conflicts(args.get("taskId"))
        return {
            "conflicts": [
                conflict_json(c, state.tasks[c.task].subject if c.task in state.tasks else None)
                for c in found
            ]
        }


def _changed_fields(before: Task, after: Task) -> list[str]:
    pairs = [
        ("subject", before.subject, after.subject),
        ("description", before.description, after.description),
        ("activeForm", before.active_form, after.active_form),
        ("status", before.status, after.status),
        ("owner", before.owner, after.owner),
        ("blocks", before.blocks, after.blocks),
        ("blockedBy", before.blocked_by, after.blocked_by),
        ("metadata", before.metadata, after.metadata),
    ]
    out = [name for name, old, new in pairs if old != new]
    if after.deleted and not before.deleted:
        out.append("status")
    return out


TOOLS = [
    ToolSpec(
        "TaskCreate",
        "Create a task in the shared task list every session of this project sees. Use it "
        "for work that is worth tracking or handing to another agent; give a short imperative "
        "subject and a description with enough context for someone who has not seen your "
        "conversation. The new task is pending and unowned: claim it (TaskClaim) before you "
        "start on it if other agents could pick it up too.",
        _schema(
            {
                "subject": {**_STR, "description": "Brief imperative title."},
                "description": {**_STR, "description": "What needs to be done, and why."},
                "activeForm": {
                    **_STR,
                    "description": "Present-continuous form shown while "
                    "in progress, e.g. 'Running tests'.",
                },
                "metadata": {"type": "object", "description": "Arbitrary JSON key/values."},
            },
            ("subject", "description"),
        ),
        Server.create,
    ),
    ToolSpec(
        "TaskUpdate",
        "Change fields of a task; only the fields you pass are written, so concurrent edits "
        "by other sessions to other fields are never lost. status 'deleted' deletes the task. "
        "metadata is merged: a key set to null is removed. addBlocks / addBlockedBy add "
        "dependencies. Changing the status or owner of a task another session holds under a "
        "live claim fails unless force is true -- do not force it unless a person told you to "
        "take the task over. Before you start work on a task, prefer TaskClaim over setting "
        "status/owner here: a claim is exclusive, an update is not.",
        _schema(
            {
                "taskId": _ID,
                "subject": _STR,
                "description": _STR,
                "activeForm": _STR,
                "status": {
                    "type": "string",
                    "enum": ["pending", "in_progress", "completed", "deleted"],
                },
                "addBlocks": {
                    **_IDS,
                    "description": "Tasks that cannot start until this one is completed.",
                },
                "addBlockedBy": {
                    **_IDS,
                    "description": "Tasks that must be completed before this one can start.",
                },
                "owner": {**_STR, "description": "New owner ('' clears it)."},
                "metadata": {"type": "object", "description": "Keys to merge; null removes a key."},
                "force": {
                    "type": "boolean",
                    "description": "Override another session's live "
                    "claim (only when told to take over).",
                },
            },
            ("taskId",),
        ),
        Server.update,
    ),
    ToolSpec(
        "TaskList",
        "List every task of the shared list: id, subject, status, owner (when set) and the "
        "blockers that are not completed yet. Use TaskReady to see only what can be started "
        "now, and TaskGet for one task's description and notes.",
        _schema({}),
        Server.list,
    ),
    ToolSpec(
        "TaskGet",
        "Read one task in full: description, status, owner, dependencies, metadata, the notes "
        "other sessions left on it, and its claim (who holds it and until when). Read the notes "
        "before you continue someone else's work.",
        _schema({"taskId": _ID}, ("taskId",)),
        Server.get,
    ),
    ToolSpec(
        "TaskClaim",
        "Claim a task before you start working on it: exactly one of any number of sessions "
        "racing for a task wins, and the task becomes yours (owner = you, status in_progress) "
        "for a lease (default 30 minutes) that every update or note you make on the task "
        "renews. If another session holds it, this fails and names the holder: pick another "
        "task (TaskReady) instead of waiting. Claiming a task you already hold renews the lease. "
        "A task with incomplete blockers cannot be claimed.",
        _schema(
            {
                "taskId": _ID,
                "leaseSeconds": _LEASE,
                "force": {
                    "type": "boolean",
                    "description": "Take the task even though another "
                    "session holds it or it is blocked (only when told to).",
                },
            },
            ("taskId",),
        ),
        Server.claim,
    ),
    ToolSpec(
        "TaskRelease",
        "Give up your claim on a task at once (owner cleared; back to pending unless completed), "
        "so another session can take it. To hand off, first leave a TaskNote saying what is "
        "done and what is left, then release.",
        _schema({"taskId": _ID}, ("taskId",)),
        Server.release,
    ),
    ToolSpec(
        "TaskReady",
        "The tasks that can be started now: pending, unowned (or their claim ran out) and with "
        "every blocker completed, oldest first. With claim=true, claim the oldest one "
        "atomically and return it -- the way to pick up the next piece of work when several "
        "agents share the list; it fails when nothing is ready.",
        _schema({"claim": {"type": "boolean"}, "leaseSeconds": _LEASE}),
        Server.ready,
    ),
    ToolSpec(
        "TaskNote",
        "Append a note to a task: progress, findings, or a handoff (what is done, what is "
        "left, where to look). Notes are never overwritten; every session sees them in TaskGet. "
        "A note on a task you hold renews your claim.",
        _schema({"taskId": _ID, "text": {**_STR, "description": "The note."}}, ("taskId", "text")),
        Server.note,
    ),
    ToolSpec(
        "TaskHistory",
        "The audit trail: the latest operations (of one task, or of the whole list), oldest "
        "first, each with time, session, operation and the fields it changed (old -> new). Use "
        "it to see who changed what before you undo or redo someone's work.",
        _schema(
            {
                "taskId": _ID,
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Latest N operations (default 50).",
                },
            },
        ),
        Server.history,
    ),
    ToolSpec(
        "TaskConflicts",
        "Writes to the same field made concurrently by two sessions (neither saw the other), "
        "with the value that was kept and the one that lost. Check it when a field does not "
        "hold what you wrote.",
        _schema({"taskId": _ID}),
        Server.conflicts,
    ),
]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


def call(server: Server, name: str, arguments: Mapping[str, Any] | None) -> tuple[Json, str | None]:
    """Run one tool: (result, None), or (None, error message)."""
    spec = TOOLS_BY_NAME.get(name)
    if spec is None:
        return None, f"unknown tool {name!r} (known: {', '.join(TOOLS_BY_NAME)})"
    try:
        args = _check(arguments or {}, spec.schema)
        return spec.run(server, args), None
    except BadArguments as exc:
        return None, f"{name}: {exc}"
    except LedgerError as exc:  # unknown id, blocked, held by another (Contention), ...
        return None, str(exc)
    except Exception as exc:  # never take the server down; say what happened
        return None, f"internal error in {name}: {type(exc).__name__}: {exc}"
    finally:
        for warning in server.ledger.warnings:
            print(f"taskledger: warning: {warning}", file=sys.stderr, flush=True)
        server.ledger.warnings.clear()


# -------------------------------------------------------------- the server


def serve(ledger: Ledger) -> None:
    """Serve the tools over stdio until the client closes stdin."""
    import logging

    import anyio
    import mcp.types as types
    from mcp.server import Server as McpServer
    from mcp.server.stdio import stdio_server

    from ledger._log import make_dirs
    from ledger._presence import Beacon

    logging.getLogger("mcp").addHandler(logging.NullHandler())
    server = Server(ledger)
    tools = [
        types.Tool(name=t.name, description=t.description, input_schema=t.schema) for t in TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        result, error = call(server, params.name, params.arguments)
        if error is not None:
            payload: dict[str, Any] = {"success": False, "error": error}
            if params.arguments and isinstance(params.arguments.get("taskId"), str):
                payload["taskId"] = params.arguments["taskId"]
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"Error: {error}")],
                structured_content=payload,
                is_error=True,
            )
        text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        structured = result if isinstance(result, dict) else {"tasks": result}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured
        )

    app = McpServer("taskledger", on_list_tools=list_tools, on_call_tool=call_tool)
    beacon = Beacon(ledger.layout.presence, ledger.session, "mcp", int(HEARTBEAT_S * 1000),
                    ledger.clock)  # fmt: skip

    async def heartbeat() -> None:
        while True:
            beacon.beat()
            await anyio.sleep(HEARTBEAT_S)

    async def main() -> None:
        make_dirs(ledger.layout.logs)
        async with stdio_server() as (read, write), anyio.create_task_group() as group:
            group.start_soon(heartbeat)
            await app.run(read, write, app.create_initialization_options())
            group.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        beacon.stop()


def random_session() -> str:
    """``<user>@<host>-mcp-<6 hex>``: a name no other server uses."""
    from ledger._paths import default_session

    return check_session(f"{default_session()[:50]}-mcp-{os.urandom(3).hex()}")


@click.command("mcp")
@home_option
@list_option
@click.option(
    "--session",
    type=SessionName(),
    envvar="TASKLEDGER_SESSION",
    help="This agent's session name [env TASKLEDGER_SESSION; default "
    "<user>@<host>-mcp-<random>, new for every server].",
)
def mcp_command(home: Path | None, list_id: str, session: str | None) -> None:
    """Serve the list as MCP Task tools over stdio (one server per agent session).

    Register it with Claude Code: claude mcp add taskledger -- taskledger mcp
    (see docs/mcp.md). Needs the mcp extra: pip install 'taskledger[mcp]'.
    """
    try:
        import mcp.server  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            "the MCP server needs the official MCP SDK: pip install 'taskledger[mcp]'"
        ) from exc
    serve(Ledger.open(home, list_id, session or random_session()))
