"""The tools: Claude Code's four Task tools and taskledger's own, on one long-lived ledger.

Shapes follow Claude Code's own TaskCreate / TaskUpdate / TaskList /
TaskGet, built from the same task JSON the CLI prints (``ledger.task_json``);
the rest (claims, notes, history, conflicts) return that JSON too. A library
error -- unknown id, blocked, held by another session -- is returned as the
tool's error, with the message the CLI prints.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ledger import (
    DEFAULT_LEASE_S,
    Edits,
    Json,
    Ledger,
    LedgerError,
    State,
    Status,
    Task,
    TaskDeleted,
    conflict_json,
    record_json,
    task_json,
)

from ._schemas import ID, IDS, LEASE, STR, BadArguments, ToolSpec, check, schema

#: TaskGet's fields, in Claude Code's order, then taskledger's
_GET_KEYS = ("id", "subject", "description", "activeForm", "status", "owner", "blocks",
             "blockedBy", "metadata", "openBlockers", "notes", "lease", "ready")  # fmt: skip


def _row(task_id: str, state: State) -> dict[str, Json]:
    """TaskList's shape: id, subject, status, owner (when set), open blockers."""
    row = state.rows[task_id]
    out: dict[str, Json] = {"id": row.id, "subject": row.subject, "status": row.status}
    if row.owner:
        out["owner"] = row.owner
    out["blockedBy"] = list(state.open_blockers(row))
    return out


def _full(task: Task, state: State, now_ms: int) -> dict[str, Json]:
    """TaskGet's shape: the task JSON's Claude Code fields, then notes, lease and readiness."""
    shown = task_json(task, state, now_ms)
    out = {k: shown[k] for k in _GET_KEYS}
    for key in ("activeForm", "owner"):
        if not out[key]:
            del out[key]
    if not out["metadata"]:
        del out["metadata"]
    out["notes"] = [
        {"text": n["text"], "session": n["session"], "at": n["at"]}  # type: ignore[index,call-overload]
        for n in shown["notes"]  # type: ignore[union-attr]
    ]
    return out


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


class Tools:
    """The tools' implementation on one long-lived ledger (no MCP here).

    Args:
        ledger: the ledger, opened for this server's session.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def state(self) -> State:
        """The state with every log read up to now (only new bytes are read)."""
        return self.ledger.state()

    def task(self, ref: str) -> tuple[Task, State]:
        """A live task by reference, and the state it was read from."""
        state = self.state()
        task = state.find(ref)
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
        before, seen = self.task(args["taskId"])
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
            unset_meta=[k for k, v in meta.items() if v is None],
        )
        force = bool(args.get("force"))
        after = before
        if not edits.is_empty():
            after = self.ledger.update(before.id, edits, force=force, based_on=seen)
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
        return [_row(row.id, state) for row in state.live_rows()]

    def get(self, args: dict[str, Any]) -> Json:
        task, state = self.task(args["taskId"])
        return {"task": _full(task, state, self.ledger.clock())}

    # -- beyond them

    def claim(self, args: dict[str, Any]) -> Json:
        task = self.ledger.claim(
            args["taskId"],
            lease_seconds=args.get("leaseSeconds", DEFAULT_LEASE_S),
            force=bool(args.get("force")),
        )
        return {"task": _full(task, self.ledger.seen(), self.ledger.clock())}

    def release(self, args: dict[str, Any]) -> Json:
        task = self.ledger.release(args["taskId"])
        return {"task": _row(task.id, self.ledger.seen())}

    def ready(self, args: dict[str, Any]) -> Json:
        if args.get("claim"):
            task = self.ledger.claim_ready(lease_seconds=args.get("leaseSeconds", DEFAULT_LEASE_S))
            return {"claimed": _full(task, self.ledger.seen(), self.ledger.clock())}
        state = self.state()
        return {"ready": [_row(r.id, state) for r in state.select(self.ledger.clock(), ready=True)]}

    def note(self, args: dict[str, Any]) -> Json:
        task = self.ledger.note(args["taskId"], args["text"])
        return {"success": True, "taskId": task.id, "notes": len(task.notes)}

    def history(self, args: dict[str, Any]) -> Json:
        state = self.state()
        records = self.ledger.history(args.get("taskId"), limit=args.get("limit", 50))
        return {"ops": [record_json(r, state) for r in records]}

    def conflicts(self, args: dict[str, Any]) -> Json:
        state = self.state()
        return {
            "conflicts": [
                conflict_json(c, state) for c in self.ledger.conflicts(args.get("taskId"))
            ]
        }


TOOLS = [
    ToolSpec(
        "TaskCreate",
        "Create a task in the shared task list every session of this project sees. Use it "
        "for work that is worth tracking or handing to another agent; give a short imperative "
        "subject and a description with enough context for someone who has not seen your "
        "conversation. The new task is pending and unowned: claim it (TaskClaim) before you "
        "start on it if other agents could pick it up too.",
        schema(
            {
                "subject": {**STR, "description": "Brief imperative title."},
                "description": {**STR, "description": "What needs to be done, and why."},
                "activeForm": {
                    **STR,
                    "description": "Present-continuous form shown while "
                    "in progress, e.g. 'Running tests'.",
                },
                "metadata": {"type": "object", "description": "Arbitrary JSON key/values."},
            },
            ("subject", "description"),
        ),
        Tools.create,
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
        schema(
            {
                "taskId": ID,
                "subject": STR,
                "description": STR,
                "activeForm": STR,
                "status": {
                    "type": "string",
                    "enum": ["pending", "in_progress", "completed", "deleted"],
                },
                "addBlocks": {
                    **IDS,
                    "description": "Tasks that cannot start until this one is completed.",
                },
                "addBlockedBy": {
                    **IDS,
                    "description": "Tasks that must be completed before this one can start.",
                },
                "owner": {**STR, "description": "New owner ('' clears it)."},
                "metadata": {"type": "object", "description": "Keys to merge; null removes a key."},
                "force": {
                    "type": "boolean",
                    "description": "Override another session's live "
                    "claim (only when told to take over).",
                },
            },
            ("taskId",),
        ),
        Tools.update,
    ),
    ToolSpec(
        "TaskList",
        "List every task of the shared list: id, subject, status, owner (when set) and the "
        "blockers that are not completed yet. Use TaskReady to see only what can be started "
        "now, and TaskGet for one task's description and notes.",
        schema({}),
        Tools.list,
    ),
    ToolSpec(
        "TaskGet",
        "Read one task in full: description, status, owner, dependencies, metadata, the notes "
        "other sessions left on it, and its claim (who holds it and until when). Read the notes "
        "before you continue someone else's work.",
        schema({"taskId": ID}, ("taskId",)),
        Tools.get,
    ),
    ToolSpec(
        "TaskClaim",
        "Claim a task before you start working on it: exactly one of any number of sessions "
        "racing for a task wins, and the task becomes yours (owner = you, status in_progress) "
        "for a lease (default 30 minutes) that every update or note you make on the task "
        "renews. If another session holds it, this fails and names the holder: pick another "
        "task (TaskReady) instead of waiting. Claiming a task you already hold renews the lease. "
        "A task with incomplete blockers cannot be claimed.",
        schema(
            {
                "taskId": ID,
                "leaseSeconds": LEASE,
                "force": {
                    "type": "boolean",
                    "description": "Take the task even though another "
                    "session holds it or it is blocked (only when told to).",
                },
            },
            ("taskId",),
        ),
        Tools.claim,
    ),
    ToolSpec(
        "TaskRelease",
        "Give up your claim on a task at once (owner cleared; back to pending unless completed), "
        "so another session can take it. To hand off, first leave a TaskNote saying what is "
        "done and what is left, then release.",
        schema({"taskId": ID}, ("taskId",)),
        Tools.release,
    ),
    ToolSpec(
        "TaskReady",
        "The tasks that can be started now: pending, unowned (or their claim ran out) and with "
        "every blocker completed, oldest first. With claim=true, claim the oldest one "
        "atomically and return it -- the way to pick up the next piece of work when several "
        "agents share the list; it fails when nothing is ready.",
        schema({"claim": {"type": "boolean"}, "leaseSeconds": LEASE}),
        Tools.ready,
    ),
    ToolSpec(
        "TaskNote",
        "Append a note to a task: progress, findings, or a handoff (what is done, what is "
        "left, where to look). Notes are never overwritten; every session sees them in TaskGet. "
        "A note on a task you hold renews your claim.",
        schema({"taskId": ID, "text": {**STR, "description": "The note."}}, ("taskId", "text")),
        Tools.note,
    ),
    ToolSpec(
        "TaskHistory",
        "The audit trail: the latest operations (of one task, or of the whole list), oldest "
        "first, each with time, session, operation and the fields it changed (old -> new). Use "
        "it to see who changed what before you undo or redo someone's work.",
        schema(
            {
                "taskId": ID,
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Latest N operations (default 50).",
                },
            },
        ),
        Tools.history,
    ),
    ToolSpec(
        "TaskConflicts",
        "Writes to the same field made concurrently by two sessions (neither saw the other), "
        "with the value that was kept and the one that lost. Check it when a field does not "
        "hold what you wrote.",
        schema({"taskId": ID}),
        Tools.conflicts,
    ),
]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


def call(tools: Tools, name: str, arguments: Mapping[str, Any] | None) -> tuple[Json, str | None]:
    """Run one tool: (result, None), or (None, error message)."""
    spec = TOOLS_BY_NAME.get(name)
    if spec is None:
        return None, f"unknown tool {name!r} (known: {', '.join(TOOLS_BY_NAME)})"
    try:
        args = check(arguments or {}, spec.schema)
        return spec.run(tools, args), None
    except BadArguments as exc:
        return None, f"{name}: {exc}"
    except LedgerError as exc:  # unknown id, blocked, held by another (Contention), ...
        return None, str(exc)
    except Exception as exc:  # never take the server down; say what happened
        return None, f"internal error in {name}: {type(exc).__name__}: {exc}"
    finally:
        for warning in tools.ledger.warnings:
            print(f"taskledger: warning: {warning}", file=sys.stderr, flush=True)
        tools.ledger.warnings.clear()
