"""The baseline: Claude Code's shared task files, as sessions use them today.

One JSON file per task; every change is read-modify-write by whoever makes
it, with no lock: read the file, change the dict, write the whole file
back. Writes here are even atomic (temp file + rename), so readers never see
a torn file -- the model is given every benefit of the doubt, and it still
loses updates: two sessions that read the same version both write their
change over it, and the later write erases the earlier one. A claim is
"owner is empty, so set it to me", which two sessions can both pass.

This is the store ``taskledger simulate`` and ``taskledger demo`` race
against the ledger. It is not used by the ledger itself.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

Task = dict[str, Any]


class NaiveStore:
    """Claude-Code-style task files in one folder.

    Args:
        folder: the list folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, task_id: str) -> Path:
        """The file of one task."""
        return self.folder / f"{task_id}.json"

    def read(self, task_id: str) -> Task:
        """Read a task file (the *read* of read-modify-write)."""
        data: Task = json.loads(self.path(task_id).read_text())
        return data

    def write(self, task: Task) -> None:
        """Write a task file whole (the *write* of read-modify-write)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{task['id']}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(json.dumps(task, indent=2))
        tmp.replace(self.path(task["id"]))

    def create(self, task_id: str, subject: str) -> None:
        """Write a new pending task."""
        self.write(
            {
                "id": task_id,
                "subject": subject,
                "description": "",
                "status": "pending",
                "owner": "",
                "blocks": [],
                "blockedBy": [],
                "metadata": {},
            }
        )

    def tasks(self) -> dict[str, Task]:
        """Every task file, by id."""
        out = {}
        for path in sorted(self.folder.glob("*.json")):
            task: Task = json.loads(path.read_text())
            out[task["id"]] = task
        return out


def change(task: Task, kind: str, session: str, arg: Any) -> bool:
    """Apply one change to a task read from its file, as a session would.

    Args:
        task: the dict read from the file (modified in place).
        kind: ``meta``, ``note``, ``subject``, ``status``, ``claim``,
            ``release`` or ``blocked_by``.
        session: who changes it.
        arg: the change's argument (a key/value pair, a text, a task id).

    Returns:
        Whether the session considers the change made (a claim of a task
        someone owns is not).
    """
    if kind == "meta":
        key, value = arg
        task.setdefault("metadata", {})[key] = value
    elif kind == "note":
        task["description"] = (task.get("description") or "") + f"{arg}\n"
    elif kind == "subject":
        task["subject"] = arg
    elif kind == "status":
        task["status"] = arg
    elif kind == "claim":
        if task.get("owner") not in ("", session):
            return False
        task["owner"] = session
        task["status"] = "in_progress"
    elif kind == "release":
        if task.get("owner") != session:
            return False
        task["owner"] = ""
        task["status"] = "pending"
    elif kind == "blocked_by":
        task.setdefault("blockedBy", []).append(arg)
    elif kind == "blocks":
        task.setdefault("blocks", []).append(arg)
    else:
        raise ValueError(f"unknown change {kind!r}")
    return True
