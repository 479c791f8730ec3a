"""A faithful model of Claude Code's own task store, for tests.

Written from the facts read out of Claude Code's shipped code, builds 2.1.112
and 2.1.332 (docs/claude-code.md lists them with where each was found). It is
not Claude Code's code: it does what that code does to the folder, step for
step, so that real ``taskledger`` processes can race it.

* the folder is ``<config>/tasks/<list id with [^A-Za-z0-9_-] as '-'>``;
* a new id is ``max(parseInt(name) over *.json, .highwatermark) + 1``
  (``parseInt`` reads a numeric prefix, NaN is skipped), taken under the list
  lock (``.lock`` anchor, lock folder ``.lock.lock``); the file is written
  in place with ``JSON.stringify(task, null, 2)`` (no trailing newline);
* an update reads the task without a lock, works out the changed fields, takes
  the task lock (``<id>.json.lock``), reads again, writes ``{...fresh,
  ...changes, id}`` -- in place in 2.1.112, through ``<id>.json.tmp.<8 hex>``
  and a rename in 2.1.332; keys outside the schema are dropped; metadata
  merges (``null`` deletes a key), from the unlocked read in 2.1.112 and
  inside the lock in 2.1.332; ``addBlocks``/``addBlockedBy`` write both
  tasks' files, each under its own lock;
* status ``deleted`` raises ``.highwatermark`` to the id, unlinks the file
  (2.1.112 without a lock) and removes the id from every other task's edges;
* the panel's reset: every task completed -> list lock, raise
  ``.highwatermark``, unlink every ``*.json`` not starting with ``.``;
* the retention sweep (2.1.332): ``rm -rf`` of every list folder whose own
  mtime is older than ``cleanupPeriodDays``; TeamDelete (2.1.112): ``rm -rf``
  of the team's folder.

Locks follow proper-lockfile: ``mkdir`` the lock folder; a lock whose mtime is
older than 10 s is stale and is taken over; otherwise retry 30 times, 5 to
100 ms apart, then fail with ``ELOCKED``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATUSES = ("pending", "in_progress", "completed")
KEYS = ("id", "subject", "description", "activeForm", "status", "owner", "blocks", "blockedBy",
        "metadata")  # fmt: skip
STALE_S = 10.0
OLD, NEW = "2.1.112", "2.1.332"


class Locked(Exception):
    """ELOCKED: the lock stayed held through every retry."""


def view_id(list_id: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "-", list_id)


def parse_int(text: str) -> int | None:
    """JavaScript's ``parseInt(text, 10)``: a leading integer, or None for NaN."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else None


def stringify(task: dict[str, Any]) -> bytes:
    """``JSON.stringify(task, null, 2)``: keys in insertion order, undefined left out."""
    return json.dumps({k: v for k, v in task.items() if v is not None}, indent=2,
                      ensure_ascii=False).encode()  # fmt: skip


def valid(raw: Any) -> dict[str, Any] | None:
    """The file schema (zod ``object``: unknown keys stripped); None when it fails."""
    if not isinstance(raw, dict):
        return None
    ok = (
        isinstance(raw.get("id"), str)
        and isinstance(raw.get("subject"), str)
        and isinstance(raw.get("description"), str)
        and raw.get("status") in STATUSES
        and isinstance(raw.get("blocks"), list)
        and isinstance(raw.get("blockedBy"), list)
        and all(isinstance(x, str) for x in raw["blocks"] + raw["blockedBy"])
        and isinstance(raw.get("activeForm", ""), str)
        and isinstance(raw.get("owner", ""), str)
        and isinstance(raw.get("metadata", {}), dict)
    )
    return {k: raw[k] for k in KEYS if k in raw} if ok else None


class ClaudeCode:
    """One Claude Code session's task tools on one list.

    Args:
        config: the config folder (``$CLAUDE_CONFIG_DIR``, ``~/.claude``).
        list_id: ``CLAUDE_CODE_TASK_LIST_ID``.
        build: ``2.1.112`` or ``2.1.332``.
    """

    def __init__(self, config: Path, list_id: str, build: str = NEW) -> None:
        self.tasks = config / "tasks"
        self.folder = self.tasks / view_id(list_id)
        self.build = build

    # --------------------------------------------------------------- locking

    @contextlib.contextmanager
    def lock(self, path: Path, retries: int = 30) -> Iterator[None]:
        lock = Path(f"{path}.lock")
        delay = 0.005
        for attempt in range(retries + 1):
            try:
                lock.mkdir()
                break
            except FileExistsError:
                try:
                    if time.time() - lock.stat().st_mtime > STALE_S:
                        with contextlib.suppress(OSError):
                            lock.rmdir()
                        continue
                except FileNotFoundError:
                    continue
                if attempt == retries:
                    raise Locked(str(lock)) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.rmdir()

    @contextlib.contextmanager
    def list_lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        anchor = self.folder / ".lock"
        with contextlib.suppress(FileExistsError), open(anchor, "x"):
            pass
        with self.lock(anchor):
            yield

    # --------------------------------------------------------------- reading

    def path(self, task_id: str) -> Path:
        return self.folder / f"{view_id(task_id)}.json"

    def get(self, task_id: str) -> dict[str, Any] | None:
        """TaskGet's read: the exact file, schema-checked (None: not found)."""
        try:
            return valid(json.loads(self.path(task_id).read_bytes()))
        except (OSError, ValueError):
            return None

    def list(self) -> list[dict[str, Any]]:
        """TaskList: every valid ``*.json`` but ``_internal`` ones; 2.1.332 sorts by Number(id)."""
        try:
            names = [n for n in os.listdir(self.folder) if n.endswith(".json")]
        except OSError:
            return []
        found = [t for t in (self.get(n.replace(".json", "", 1)) for n in names) if t is not None]
        found = [t for t in found if not (t.get("metadata") or {}).get("_internal")]
        if self.build == NEW:
            found.sort(key=lambda t: parse_int(t["id"]) if parse_int(t["id"]) is not None else 0)
        return found

    def highwatermark(self) -> int:
        try:
            value = parse_int((self.folder / ".highwatermark").read_text().strip())
        except OSError:
            return 0
        return value or 0

    def _max_id(self) -> int:
        top = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 0
        for name in names:
            if name.endswith(".json"):
                value = parse_int(name.replace(".json", "", 1))
                if value is not None and value > top:
                    top = value
        return top

    # --------------------------------------------------------------- writing

    def _write(self, path: Path, task: dict[str, Any]) -> None:
        data = stringify(task)
        if self.build == OLD:
            with open(path, "wb") as fh:  # in place: a reader can see it half-written
                fh.write(data[: len(data) // 2])
                fh.flush()
                fh.write(data[len(data) // 2 :])
            return
        temp = Path(f"{path}.tmp.{secrets.token_hex(4)}")
        with open(temp, "xb") as fh:
            fh.write(data)
        os.replace(temp, path)

    def create(self, subject: str, description: str = "", active_form: str | None = None,
               metadata: dict[str, Any] | None = None) -> str:  # fmt: skip
        """TaskCreate: the next number, under the list lock; returns the id."""
        with self.list_lock():
            new = str(max(self._max_id(), self.highwatermark()) + 1)
            task = {"id": new, "subject": subject, "description": description,
                    "activeForm": active_form, "status": "pending", "owner": None,
                    "blocks": [], "blockedBy": [], "metadata": metadata}  # fmt: skip
            with open(self.path(new), "wb") as fh:  # a plain write, in place, both builds
                fh.write(stringify(task))
        return new

    def _set(self, task_id: str, changes: dict[str, Any], meta: dict[str, Any] | None) -> bool:
        """``ns``/``DKe``: under the task lock, re-read and write ``{...fresh, ...changes, id}``."""
        path = self.path(task_id)
        if not path.exists():
            return False
        with self.lock(path):
            fresh = self.get(task_id)
            if fresh is None:
                return False
            if meta is not None:  # 2.1.332 merges metadata inside the lock
                merged = dict(fresh.get("metadata") or {})
                for key, value in meta.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                changes = {**changes, "metadata": merged}
            self._write(path, {**fresh, **changes, "id": task_id})
        return True

    def update(self, task_id: str, **fields: Any) -> dict[str, Any]:
        """TaskUpdate (tool input names: subject, description, activeForm, status, owner,
        metadata, addBlocks, addBlockedBy); returns the tool's result object."""
        seen = self.get(task_id)
        if seen is None:
            return {"success": False, "taskId": task_id, "updatedFields": [],
                    "error": "Task not found"}  # fmt: skip
        if fields.get("status") == "deleted":
            done = self.delete(task_id)
            return {
                "success": done,
                "taskId": task_id,
                "updatedFields": ["deleted"] if done else [],
            }
        changes: dict[str, Any] = {}
        updated = []
        for name in ("subject", "description", "activeForm", "status", "owner"):
            value = fields.get(name)
            if value is not None and value != seen.get(name):
                changes[name] = value
                updated.append(name)
        meta = fields.get("metadata")
        inside = None
        if meta is not None:
            updated.append("metadata")
            if self.build == OLD:  # merged from the unlocked read
                merged = dict(seen.get("metadata") or {})
                for key, value in meta.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                changes["metadata"] = merged
            else:
                inside = meta
        if changes or inside is not None:
            self._set(task_id, changes, inside)
        for other in fields.get("addBlocks") or []:
            self._edge(task_id, other)
            updated.append("blocks")
        for other in fields.get("addBlockedBy") or []:
            self._edge(other, task_id)
            updated.append("blockedBy")
        return {"success": True, "taskId": task_id, "updatedFields": updated}

    def _edge(self, blocker: str, blocked: str) -> None:
        """``On1``/``i2n``: both files, each under its own lock."""
        a, b = self.get(blocker), self.get(blocked)
        if a is None or b is None:
            return
        if blocked not in a["blocks"]:
            self._set(blocker, {"blocks": [*a["blocks"], blocked]}, None)
        if blocker not in b["blockedBy"]:
            self._set(blocked, {"blockedBy": [*b["blockedBy"], blocker]}, None)

    def delete(self, task_id: str) -> bool:
        """Status ``deleted``: raise the mark, unlink, drop the id from every edge."""
        number = parse_int(task_id)
        if number is not None and number > self.highwatermark():
            (self.folder / ".highwatermark").write_text(str(number))
        path = self.path(task_id)
        try:
            if self.build == OLD:
                path.unlink()
            else:
                with self.lock(path):
                    path.unlink()
        except FileNotFoundError:
            return False
        for other in self.list():
            blocks = [x for x in other["blocks"] if x != task_id]
            blocked_by = [x for x in other["blockedBy"] if x != task_id]
            if blocks != other["blocks"] or blocked_by != other["blockedBy"]:
                self._set(other["id"], {"blocks": blocks, "blockedBy": blocked_by}, None)
        return True

    # ------------------------------------------------------------ wholesale

    def panel_reset(self) -> bool:
        """The task panel, 5 s after it saw every task completed (the wait is the caller's)."""
        tasks = self.list()
        if not tasks or any(t["status"] != "completed" for t in tasks):
            return False
        with self.list_lock():
            if self.build == NEW and any(t["status"] != "completed" for t in self.list()):
                return False
            top = self._max_id()
            if top > self.highwatermark():
                (self.folder / ".highwatermark").write_text(str(top))
            for name in os.listdir(self.folder):
                if name.endswith(".json") and not name.startswith("."):
                    with contextlib.suppress(OSError):
                        (self.folder / name).unlink()
        return True

    def sweep(self, days: float = 30, now: float | None = None) -> list[str]:
        """2.1.332's retention sweep of ``tasks/``: ``rm -rf`` of folders older than ``days``."""
        cutoff = (time.time() if now is None else now) - days * 86_400
        removed = []
        for entry in os.scandir(self.tasks):
            if entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
        return removed

    def team_delete(self) -> None:
        """2.1.112's TeamDelete: ``rm -rf`` of the team's task folder."""
        shutil.rmtree(self.folder, ignore_errors=True)
