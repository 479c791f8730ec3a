"""``taskledger claude-code install`` and its hooks (issue 13): recorded hook
payloads, shaped as Claude Code 2.1.112 and 2.1.332 send them, are fed to the
installed command exactly as Claude Code runs it (a shell, JSON on stdin)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.claude_code import NEW, ClaudeCode
from tests.conftest import proc_env, taskledger_argv

ALICE, BOB = str(uuid.UUID(int=0xA11CE)), str(uuid.UUID(int=0xB0B))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "tasks").mkdir(parents=True)
    return path


def tl(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*taskledger_argv(), *args], env=cc_env(config, **env), capture_output=True, text=True,
        timeout=120, cwd=config.parent,
    )  # fmt: skip


def cc_env(config: Path, **extra: str) -> dict[str, str]:
    """The environment Claude Code gives a hook: its config folder and the shared list."""
    env = proc_env(config / "tasks", CLAUDE_CONFIG_DIR=str(config), CLAUDE_CODE_TASK_LIST_ID="team",
                   **extra)  # fmt: skip
    for key in ("TASKLEDGER_HOME", "TASKLEDGER_LIST", "TASKLEDGER_SESSION"):
        env.pop(key, None)
    return env


def installed_command(settings: Path, event: str) -> str:
    entries = json.loads(settings.read_text())["hooks"][event]
    (ours,) = [h for e in entries for h in e["hooks"] if h["command"].endswith("claude-code hook")]
    assert [e["matcher"] for e in entries if ours in e["hooks"]] == ["TaskCreate|TaskUpdate"]
    return str(ours["command"])


def payload(session: str, event: str, tool: str, tool_input: dict[str, Any],
            response: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {
        "session_id": session, "transcript_path": f"/tmp/{session}.jsonl", "cwd": "/work",
        "permission_mode": "default", "hook_event_name": event, "tool_name": tool,
        "tool_input": tool_input, "tool_use_id": f"toolu_{uuid.uuid4().hex[:20]}",
    }  # fmt: skip
    if response is not None:
        out["tool_response"] = response
    return out


def fire(
    config: Path, command: str, body: dict[str, Any] | str
) -> subprocess.CompletedProcess[str]:
    """Run a hook command the way Claude Code does: through a shell, the call on stdin."""
    data = body if isinstance(body, str) else json.dumps(body)
    return subprocess.run(["/bin/sh", "-c", command], input=data, env=cc_env(config),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


class Session:
    """A Claude Code session with the hooks installed: every tool call fires them."""

    def __init__(self, config: Path, session: str, settings: Path) -> None:
        self.config, self.session = config, session
        self.cc = ClaudeCode(config, "team", NEW)
        self.pre = installed_command(settings, "PreToolUse")
        self.post = installed_command(settings, "PostToolUse")

    def create(self, subject: str) -> str:
        args = {"subject": subject, "description": ""}
        assert (
            fire(
                self.config, self.pre, payload(self.session, "PreToolUse", "TaskCreate", args)
            ).returncode
            == 0
        )
        number = self.cc.create(subject)
        response = {"task": {"id": number, "subject": subject}}
        done = fire(
            self.config,
            self.post,
            payload(self.session, "PostToolUse", "TaskCreate", args, response),
        )
        assert done.returncode == 0, done.stderr
        return number

    def update(self, task_id: str, **fields: Any) -> subprocess.CompletedProcess[str]:
        args = {"taskId": task_id, **fields}
        before = fire(
            self.config, self.pre, payload(self.session, "PreToolUse", "TaskUpdate", args)
        )
        if before.returncode == 2:
            return before  # Claude Code does not run the tool; the model reads stderr
        result = self.cc.update(task_id, **fields)
        after = fire(
            self.config, self.post, payload(self.session, "PostToolUse", "TaskUpdate", args, result)
        )
        assert after.returncode == 0, after.stderr
        return before


def history(config: Path, *args: str) -> list[dict[str, Any]]:
    out = tl(config, "history", "--json", "--list", "team", *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_install_merges_and_uninstall_restores_the_settings(config: Path, tmp_path: Path) -> None:
    settings = tmp_path / "project" / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    theirs = {
        "model": "opus",
        "permissions": {"allow": ["Bash(ls)"]},
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh"}]}
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "notify.sh"}]}],
        },
    }
    settings.write_text(json.dumps(theirs, indent=2))
    first = tl(config, "claude-code", "install", "--settings", str(settings))
    assert first.returncode == 0 and "installed" in first.stdout, first.stderr
    assert "claude mcp add taskledger" in first.stdout  # it offers the MCP server too
    merged = json.loads(settings.read_text())
    assert merged["model"] == "opus" and merged["permissions"] == theirs["permissions"]
    assert merged["hooks"]["Stop"] == theirs["hooks"]["Stop"]
    assert merged["hooks"]["PreToolUse"][0] == theirs["hooks"]["PreToolUse"][0]
    installed_command(settings, "PreToolUse")
    installed_command(settings, "PostToolUse")
    again = tl(config, "claude-code", "install", "--settings", str(settings))
    assert "already installed" in again.stdout
    assert json.loads(settings.read_text()) == merged  # idempotent
    gone = tl(config, "claude-code", "uninstall", "--settings", str(settings))
    assert gone.returncode == 0 and "removed" in gone.stdout
    assert json.loads(settings.read_text()) == theirs
    # project scope by default, with the MCP server in the project's .mcp.json
    project = tl(config, "claude-code", "install", "--mcp")
    assert project.returncode == 0, project.stderr
    mcp = json.loads((config.parent / ".mcp.json").read_text())
    assert mcp["mcpServers"]["taskledger"]["args"] == ["mcp"]
    installed_command(config.parent / ".claude" / "settings.json", "PostToolUse")
    bad = settings.with_name("broken.json")
    bad.write_text("{not json")
    refused = tl(config, "claude-code", "install", "--settings", str(bad))
    assert refused.returncode == 1 and refused.stderr.startswith("Error: ")
    assert bad.read_text() == "{not json"  # never clobbered


@pytest.fixture
def sessions(config: Path, tmp_path: Path) -> tuple[Session, Session]:
    settings = tmp_path / "settings.json"
    assert tl(config, "claude-code", "install", "--settings", str(settings)).returncode == 0
    return Session(config, ALICE, settings), Session(config, BOB, settings)


def test_hooks_record_changes_under_the_claude_session(
    config: Path, sessions: tuple[Session, Session]
) -> None:
    alice, bob = sessions
    one = alice.create("design the api")
    two = bob.create("write the tests")
    bob.update(two, addBlockedBy=[one], metadata={"area": "tests"})
    alice.update(one, status="completed")
    ops = history(config)
    assert [(o["session"], o["op"]) for o in ops] == [
        (ALICE, "create"), (BOB, "create"),
        (BOB, "update"), (BOB, "update"),  # the edge (one file) and the metadata (the other)
        (ALICE, "update"),
    ]  # fmt: skip
    task = json.loads(tl(config, "show", two, "--json", "--list", "team").stdout)
    assert task["metadata"] == {"area": "tests"} and task["nativeId"] == two
    bob.update(two, status="deleted")
    assert history(config)[-1]["session"] == BOB and history(config)[-1]["op"] == "delete"


def test_a_taskupdate_taking_a_held_task_is_blocked_naming_the_holder(
    config: Path, sessions: tuple[Session, Session]
) -> None:
    alice, bob = sessions
    one = alice.create("contested")
    assert alice.update(one, status="in_progress", owner="alice-agent").returncode == 0
    shown = json.loads(tl(config, "show", one, "--json", "--list", "team").stdout)
    assert shown["lease"]["holder"] == ALICE  # the hook claimed it for alice's session
    for takeover in ({"owner": "bob-agent"}, {"status": "in_progress"}):
        blocked = bob.update(one, **takeover)
        assert blocked.returncode == 2, blocked.stderr
        assert ALICE in blocked.stderr and "held by" in blocked.stderr
    assert alice.cc.get(one)["owner"] == "alice-agent"  # type: ignore[index]
    assert bob.update(one, metadata={"note": "fine"}).returncode == 0  # not a takeover
    assert tl(config, "release", one, "--list", "team", "--session", ALICE).returncode == 0
    assert bob.update(one, owner="bob-agent").returncode == 0  # free again


def test_a_hook_that_fails_never_blocks_the_call(
    config: Path, sessions: tuple[Session, Session]
) -> None:
    alice, _ = sessions
    no_task_id = payload(ALICE, "PreToolUse", "TaskUpdate", {"status": "in_progress"})
    for body in ("", "not json", "[]", json.dumps({"hook_event_name": "PreToolUse"}),
                 json.dumps(no_task_id)):  # fmt: skip
        result = fire(config, alice.pre, body)
        assert result.returncode in (0, 1), (body, result.returncode, result.stderr)
        assert "Traceback" not in result.stderr
    other_tool = payload(ALICE, "PreToolUse", "Bash", {"command": "ls"})
    assert fire(config, alice.pre, other_tool).returncode == 0
    # a change the hook could not record is still recorded by the next reader
    number = alice.cc.create("made while the hook was broken")
    listed = json.loads(tl(config, "list", "--json", "--list", "team").stdout)
    assert [t["nativeId"] for t in listed] == [number]
