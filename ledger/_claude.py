"""Claude Code's hooks: installing them into its settings, and what each call does.

``install_hooks`` merges two entries into a Claude Code settings file (never
touching any other key or hook): a ``PreToolUse`` and a ``PostToolUse``
hook on ``TaskCreate|TaskUpdate`` that run ``taskledger claude-code hook``.
Claude Code runs a hook with the call's JSON on stdin (``session_id``,
``hook_event_name``, ``tool_name``, ``tool_input``, and for PostToolUse the
tool's result as ``tool_response``); exit 2 blocks a PreToolUse call and
shows the hook's stderr to the model; any other failure lets the call
through. Checked against Claude Code 2.1.112 and 2.1.332 (docs/claude-code.md).

``handle_hook`` is one hook call:

* before a call, it names the Claude session as the writer of the files the
  call is about to write (a *hint*, ``_baseline``), so any reader that
  records the change -- this hook afterwards, a ``watch``, the next command
  -- records it under that session;
* before a TaskUpdate that takes ownership (an owner, or status
  ``in_progress``), it claims the task for the session in the ledger; when
  another live session holds it, the call is blocked (exit 2) naming the
  holder;
* after a call, it records the change at once (the file ingest of ``_view``).

A hook never hangs and never blocks an unrelated call: anything that goes
wrong is reported on stderr with exit 1, which Claude Code ignores -- and the
change is still recorded by the next reader of the folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _json
from ._datatype import datatype
from ._errors import ClaimHeld, LedgerError, StorageError
from ._fs import Dir
from ._ids import is_session, sanitize_session

HOOK_ARGS = ("claude-code", "hook")
MATCHER = "TaskCreate|TaskUpdate"
EVENTS = ("PreToolUse", "PostToolUse")
#: how long a hint names the writer of a file (a tool call takes well under this)
HINT_MS = 30_000
BLOCK = 2


# ------------------------------------------------------------------ settings


def settings_file(scope: str, cwd: Path) -> Path:
    """Claude Code's settings for a scope: ``project`` (``.claude/settings.json`` here)
    or ``user`` (``$CLAUDE_CONFIG_DIR/settings.json``, else ``~/.claude/settings.json``)."""
    if scope == "project":
        return cwd / ".claude" / "settings.json"
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(config) if config else Path.home() / ".claude") / "settings.json"


def _is_ours(hook: object) -> bool:
    return isinstance(hook, dict) and str(hook.get("command", "")).endswith(" ".join(HOOK_ARGS))


def _read_settings(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        settings = _json.loads(data) if data.strip() else {}
    except ValueError as exc:
        raise StorageError(f"{path} is not valid JSON ({exc}); fix it or pass --settings") from exc
    if not isinstance(settings, dict) or not isinstance(settings.get("hooks", {}), dict):
        raise StorageError(f"{path} does not hold a settings object with a 'hooks' object")
    return settings


def _write_settings(path: Path, settings: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Dir.open(path.parent, path.parent)
        assert folder is not None
        with folder:
            folder.write_atomic(path.name, (_json.pretty(settings) + "\n").encode(), mode=0o644)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from exc


def _without_ours(entries: object) -> list[Any]:
    """A hook list with taskledger's hooks taken out (an entry left empty goes too)."""
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("hooks"), list):
            out.append(entry)
            continue
        kept = [h for h in entry["hooks"] if not _is_ours(h)]
        if kept:
            out.append({**entry, "hooks": kept})
        elif len(kept) == len(entry["hooks"]):
            out.append(entry)
    return out


def install_hooks(path: Path, command: str) -> bool:
    """Merge taskledger's hooks into a settings file; True when it changed.

    Raises:
        StorageError: when the file cannot be read, parsed or written.
    """
    settings = _read_settings(path)
    hooks = dict(settings.get("hooks", {}))
    for event in EVENTS:
        entry = {"matcher": MATCHER, "hooks": [{"type": "command", "command": command}]}
        hooks[event] = [*_without_ours(hooks.get(event)), entry]
    new = {**settings, "hooks": hooks}
    if new == settings:
        return False
    _write_settings(path, new)
    return True


def uninstall_hooks(path: Path) -> bool:
    """Take taskledger's hooks out of a settings file; True when it changed.

    Raises:
        StorageError: when the file cannot be read, parsed or written.
    """
    settings = _read_settings(path)
    if not settings:
        return False
    hooks = dict(settings.get("hooks", {}))
    for event in EVENTS:
        if event in hooks:
            kept = _without_ours(hooks[event])
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
    new = {**settings, "hooks": hooks}
    if not hooks and "hooks" not in _read_settings(path).get("hooks", {}):
        new.pop("hooks")
    if new == settings:
        return False
    _write_settings(path, new)
    return True


def register_mcp(path: Path, command: str) -> bool:
    """Add the taskledger MCP server to a project's ``.mcp.json``; True when it changed.

    Raises:
        StorageError: when the file cannot be read, parsed or written.
    """
    config = _read_settings(path)
    servers = config.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise StorageError(f"{path}: 'mcpServers' is not an object")
    entry = {"command": command, "args": ["mcp"]}
    if servers.get("taskledger") == entry:
        return False
    _write_settings(path, {**config, "mcpServers": {**servers, "taskledger": entry}})
    return True


# -------------------------------------------------------------------- calls


@datatype(frozen=True)
class HookAnswer:
    """What a hook call tells Claude Code: its exit code and stderr."""

    code: int = 0
    message: str = ""


def session_of(payload: Mapping[str, Any]) -> str:
    """The ledger session of a Claude session (its id, made a valid name)."""
    raw = payload.get("session_id")
    if not isinstance(raw, str) or not raw:
        raise LedgerError("the hook call names no session_id")
    return raw if is_session(raw) else sanitize_session(raw)


def list_of(payload: Mapping[str, Any]) -> str:
    """The list a Claude session works on: ``$TASKLEDGER_LIST``,
    ``$CLAUDE_CODE_TASK_LIST_ID``, else the session's own list (its id)."""
    return (
        os.environ.get("TASKLEDGER_LIST")
        or os.environ.get("CLAUDE_CODE_TASK_LIST_ID")
        or str(payload.get("session_id") or "default")
    )


def _ids(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _takes_ownership(tool_input: Mapping[str, Any]) -> bool:
    owner = tool_input.get("owner")
    return (isinstance(owner, str) and owner != "") or tool_input.get("status") == "in_progress"


def handle_hook(payload: Mapping[str, Any], home: Path | None = None) -> HookAnswer:
    """One hook call (see the module).

    Raises:
        LedgerError: for a payload that is not a Task tool call, or a list
            that cannot be read or written (Claude Code lets the call through).
    """
    from ._baseline import Baselines
    from ._layout import Layout
    from ._ledger import Ledger

    event, tool = payload.get("hook_event_name"), payload.get("tool_name")
    tool_input = payload.get("tool_input")
    if event not in EVENTS or tool not in ("TaskCreate", "TaskUpdate"):
        return HookAnswer()
    if not isinstance(tool_input, dict):
        raise LedgerError("the hook call has no tool_input object")
    session = session_of(payload)
    layout = Layout.of(home, list_of(payload))
    until = time.time_ns() // 1_000_000 + HINT_MS
    if tool == "TaskCreate":
        names = [".create"]
        response = payload.get("tool_response")
        task = response.get("task") if isinstance(response, dict) else None
        if isinstance(task, dict) and isinstance(task.get("id"), str):
            names.append(task["id"])
    else:
        task_id = tool_input.get("taskId")
        if not isinstance(task_id, str):
            raise LedgerError("TaskUpdate without a taskId")
        names = [task_id, *_ids(tool_input.get("addBlocks")), *_ids(tool_input.get("addBlockedBy"))]
    Baselines.name_writer(layout, names, session, until)
    ledger = Ledger(layout, session, long_lived=False, native_session="claude-code")
    if event == "PostToolUse":
        ledger.state()  # records what the call wrote, under the session
        return HookAnswer()
    if tool == "TaskUpdate" and _takes_ownership(tool_input):
        return _claim(ledger, names[0])
    return HookAnswer()


def _claim(ledger: Any, ref: str) -> HookAnswer:
    from ._errors import Ambiguous, InvalidValue, NotFound, TaskDeleted

    try:
        ledger.claim(ref, past_blockers=True)
    except ClaimHeld as exc:
        return HookAnswer(
            BLOCK, f"{exc}. Pick another task (TaskList) or ask {_holder(exc)} to release it."
        )
    except (NotFound, Ambiguous, TaskDeleted, InvalidValue):
        return HookAnswer()  # not the ledger's to refuse (a completed task, an unknown id)
    return HookAnswer()


def _holder(exc: ClaimHeld) -> str:
    text = str(exc)
    return (
        text.split(" is held by ", 1)[1].split()[0].rstrip(":;")
        if " is held by " in text
        else "its holder"
    )
