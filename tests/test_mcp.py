"""``taskledger mcp``: the real server as a subprocess, driven by the MCP SDK's stdio client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
LIST = "mcp"
TOOLS = {
    "TaskCreate", "TaskUpdate", "TaskList", "TaskGet", "TaskClaim", "TaskRelease",
    "TaskReady", "TaskNote", "TaskHistory", "TaskConflicts",
}  # fmt: skip


@contextlib.asynccontextmanager
async def server(home: Path, session: str, errlog: Any = None) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli", "mcp", "--home", str(home), "--list", LIST, "--session", session],
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")},
        cwd=str(ROOT),
    )
    log = errlog if errlog is not None else subprocess.DEVNULL
    async with (
        stdio_client(params, errlog=log) as (read, write),
        ClientSession(read, write) as session_,
    ):
        await session_.initialize()
        yield session_


class Agent:
    """A client session with helpers that check the result kind."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def raw(self, tool: str, **args: Any) -> CallToolResult:
        return await self.session.call_tool(tool, args)

    async def ok(self, tool: str, **args: Any) -> Any:
        result = await self.raw(tool, **args)
        text = result.content[0].text  # type: ignore[union-attr]
        assert not result.is_error, text
        return json.loads(text)

    async def error(self, tool: str, **args: Any) -> str:
        result = await self.raw(tool, **args)
        text: str = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error, text
        assert text.startswith("Error: ")
        assert result.structured_content is not None
        assert result.structured_content["success"] is False
        return text


def cli(home: Path, session: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKLEDGER_HOME": str(home), "TASKLEDGER_LIST": LIST,
           "TASKLEDGER_SESSION": session}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )


def test_every_tool_with_claude_code_shapes(tmp_path: Path) -> None:
    home = tmp_path / "home"

    async def scenario() -> None:
        async with server(home, "agent-a") as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == TOOLS
            assert all(len(t.description or "") > 80 for t in tools.values())
            assert tools["TaskUpdate"].input_schema["required"] == ["taskId"]
            a = Agent(session)

            made = await a.ok("TaskCreate", subject="Write parser", description="Parse it.",
                              activeForm="Writing parser", metadata={"area": "core"})  # fmt: skip
            assert set(made) == {"task"} and made["task"]["subject"] == "Write parser"
            first = made["task"]["id"]
            second = (await a.ok("TaskCreate", subject="Test parser", description=""))["task"]["id"]

            listed = await a.ok("TaskList")
            assert listed == [
                {"id": first, "subject": "Write parser", "status": "pending", "blockedBy": []},
                {"id": second, "subject": "Test parser", "status": "pending", "blockedBy": []},
            ]

            up = await a.ok("TaskUpdate", taskId=second, addBlockedBy=[first],
                            metadata={"area": "tests", "gone": None})  # fmt: skip
            assert up == {"success": True, "taskId": second,
                          "updatedFields": ["blockedBy", "metadata"]}  # fmt: skip
            listed = {t["id"]: t for t in await a.ok("TaskList")}
            assert listed[second]["blockedBy"] == [first]
            up = await a.ok("TaskUpdate", taskId=first, status="in_progress", owner="agent-a",
                            metadata={"area": None})  # fmt: skip
            assert up["statusChange"] == {"from": "pending", "to": "in_progress"}
            assert set(up["updatedFields"]) == {"status", "owner", "metadata"}

            got = (await a.ok("TaskGet", taskId=first[:6]))["task"]
            assert got["id"] == first and got["description"] == "Parse it."
            assert got["blocks"] == [second] and got["owner"] == "agent-a"
            assert got["activeForm"] == "Writing parser" and "metadata" not in got

            noted = await a.ok("TaskNote", taskId=first, text="Lexer done; grammar left.")
            assert noted == {"success": True, "taskId": first, "notes": 1}
            got = (await a.ok("TaskGet", taskId=first))["task"]
            assert got["notes"][0]["text"] == "Lexer done; grammar left."
            assert got["notes"][0]["session"] == "agent-a"

            await a.ok("TaskUpdate", taskId=first, status="pending", owner="")
            claimed = (await a.ok("TaskClaim", taskId=first, leaseSeconds=600))["task"]
            assert claimed["owner"] == "agent-a" and claimed["status"] == "in_progress"
            assert claimed["lease"]["holder"] == "agent-a" and claimed["lease"]["live"]
            released = (await a.ok("TaskRelease", taskId=first))["task"]
            assert released == {"id": first, "subject": "Write parser", "status": "pending",
                                "blockedBy": []}  # fmt: skip

            ready = await a.ok("TaskReady")
            assert [t["id"] for t in ready["ready"]] == [first]  # second is blocked
            picked = (await a.ok("TaskReady", claim=True))["claimed"]
            assert picked["id"] == first and picked["owner"] == "agent-a"
            done = await a.ok("TaskUpdate", taskId=first, status="completed")
            assert done["statusChange"] == {"from": "in_progress", "to": "completed"}
            assert [t["id"] for t in (await a.ok("TaskReady"))["ready"]] == [second]

            ops = (await a.ok("TaskHistory", taskId=first))["ops"]
            assert [o["op"] for o in ops][:2] == ["create", "update"]
            # the task's own ops, and the edge to it added from the other task's side
            assert all(o["session"] == "agent-a" for o in ops)
            assert {o["task"] for o in ops} == {first, second}
            assert all(o["task"] == first or first in o["fields"]["blockedBy"] for o in ops)
            assert len((await a.ok("TaskHistory", limit=2))["ops"]) == 2
            assert (await a.ok("TaskConflicts")) == {"conflicts": []}

            gone = await a.ok("TaskUpdate", taskId=second, status="deleted")
            assert gone["statusChange"] == {"from": "pending", "to": "deleted"}
            assert [t["id"] for t in await a.ok("TaskList")] == [first]
            assert "is deleted" in (await a.error("TaskGet", taskId=second))

    asyncio.run(scenario())
    # The server wrote the same ledger the CLI reads, and the Claude Code task files.
    state = Ledger.open(home, LIST, "check").state()
    assert state.tasks[next(iter(state.rows))].status.value == "completed"
    assert len(list((home / LIST).glob("*.json"))) == 1


def test_errors_are_tool_errors_and_the_server_keeps_going(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lib = Ledger.open(home, LIST, "setup")
    from ledger import Edits

    blocker = lib.create(Edits(subject="blocker")).id
    blocked = lib.create(Edits(subject="blocked", add_blocked_by=[blocker])).id
    held = lib.create(Edits(subject="held")).id
    assert cli(home, "other-agent", "claim", held).returncode == 0

    async def scenario() -> None:
        async with server(home, "agent-a") as session:
            a = Agent(session)
            assert "no task" in (await a.error("TaskGet", taskId="ffffffffffffffff"))
            assert "no task" in (await a.error("TaskUpdate", taskId="0000", subject="x"))
            text = await a.error("TaskClaim", taskId=blocked)
            assert blocker in text or lib.state().short(blocker) in text
            text = await a.error("TaskClaim", taskId=held)
            assert "other-agent" in text
            assert "other-agent" in (await a.error("TaskUpdate", taskId=held, status="completed"))
            assert "missing required argument 'taskId'" in (await a.error("TaskGet"))
            assert "must be string" in (await a.error("TaskGet", taskId=5))
            assert "must be one of" in (await a.error("TaskUpdate", taskId=held, status="done"))
            assert "unknown argument" in (await a.error("TaskList", verbose=True))
            assert "greater than 0" in (await a.error("TaskClaim", taskId=held, leaseSeconds=0))
            assert "unknown tool" in (await a.error("TaskFly"))
            # After all that the server still answers, and forced takeover works.
            taken = (await a.ok("TaskClaim", taskId=held, force=True))["task"]
            assert taken["owner"] == "agent-a"
            assert (await a.ok("TaskReady", claim=True))["claimed"]["id"] == blocker
            # Now nothing is ready: one task is blocked, the others are held.
            assert "ready" in (await a.error("TaskReady", claim=True))

    asyncio.run(scenario())


def test_two_servers_race_task_claim_and_exactly_one_wins(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lib = Ledger.open(home, LIST, "setup")
    from ledger import Edits

    ids = [lib.create(Edits(subject=f"job {n}")).id for n in range(8)]

    async def scenario() -> list[list[bool]]:
        async with server(home, "agent-a") as one, server(home, "agent-b") as two:
            a, b = Agent(one), Agent(two)
            outcomes = []
            for tid in ids:
                results = await asyncio.gather(a.raw("TaskClaim", taskId=tid),
                                               b.raw("TaskClaim", taskId=tid))  # fmt: skip
                outcomes.append([not r.is_error for r in results])
                loser = results[1] if not results[0].is_error else results[0]
                winner = "agent-a" if not results[0].is_error else "agent-b"
                assert winner in loser.content[0].text  # type: ignore[union-attr]
            return outcomes

    outcomes = asyncio.run(scenario())
    assert all(sum(o) == 1 for o in outcomes), outcomes
    state = Ledger.open(home, LIST, "check").state()
    for tid, o in zip(ids, outcomes, strict=True):
        assert state.tasks[tid].owner == ("agent-a" if o[0] else "agent-b")


def test_a_cli_change_is_visible_to_a_running_server(tmp_path: Path) -> None:
    home = tmp_path / "home"

    async def scenario() -> None:
        async with server(home, "agent-a") as session:
            a = Agent(session)
            assert await a.ok("TaskList") == []
            made = cli(home, "person", "create", "Made from the CLI")
            assert made.returncode == 0, made.stderr
            tid = made.stdout.strip()
            assert [t["subject"] for t in await a.ok("TaskList")] == ["Made from the CLI"]
            assert cli(home, "person", "claim", tid).returncode == 0
            row = (await a.ok("TaskList"))[0]
            assert row["owner"] == "person" and row["status"] == "in_progress"
            assert cli(home, "person", "note", tid, "over to you").returncode == 0
            assert cli(home, "person", "release", tid).returncode == 0
            got = (await a.ok("TaskGet", taskId=tid))["task"]
            assert got["notes"][0]["text"] == "over to you" and got["status"] == "pending"
            sessions = json.loads(cli(home, "person", "sessions", "--json").stdout)
            live = {s["session"]: s["live"] for s in sessions}
            assert live["agent-a"] is True

    asyncio.run(scenario())


def test_without_the_sdk_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['mcp'] = None; sys.argv = ['taskledger', 'mcp'];"
        "from cli._main import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "TASKLEDGER_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 1
    assert "pip install 'taskledger[mcp]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("bad", ["", "a b", ".hidden"])
def test_a_bad_session_name_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    done = cli(tmp_path, "x", "mcp", "--session", bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr
