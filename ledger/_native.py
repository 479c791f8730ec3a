"""Claude Code's task files: rendering them, reading them, and what a change to one means.

A task file is exactly Claude Code's schema, keys in this order: ``id,
subject, description, activeForm, status, owner, blocks, blockedBy,
metadata`` (``activeForm``, ``owner`` and ``metadata`` left out when empty),
two-space indented. A task Claude Code created keeps its number as its file
name and ``id``; edges in a file name tasks the way the folder names them
(numbers for those), translated to task ids and back here.

Reading a file Claude Code wrote is reading untrusted input: strict JSON,
bounded nesting, Claude Code's own schema (a file that fails it is what
Claude Code itself treats as "not found"), and the ledger's limits.
``plan_native_*`` turn the difference between what taskledger last wrote to
a file (its *baseline*) and what the file holds now into the op that records
it -- three-way, so a field the ledger changed meanwhile shows as a conflict
and a field it did not change is simply set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _json
from ._checks import (
    ACTIVE_FORM_MAX,
    DESCRIPTION_MAX,
    OWNER_MAX,
    SUBJECT_MAX,
    check_meta_key,
    check_meta_value,
    check_text,
)
from ._datatype import datatype
from ._errors import InvalidValue
from ._model import Change, Json, Op, OpKind, Task
from ._state import State
from ._textdiff import merge3

_STATUSES = ("pending", "in_progress", "completed")
_KEYS = ("id", "subject", "description", "activeForm", "status", "owner", "blocks",
         "blockedBy", "metadata")  # fmt: skip


@datatype(frozen=True)
class FileTask:
    """A task as one of Claude Code's files holds it (ids as the folder names them).

    Attributes:
        id: the ``id`` in the file (its name, for Claude Code).
        subject: the subject.
        description: the description.
        active_form: the active form ("" when absent).
        status: pending, in_progress or completed.
        owner: the owner ("" when absent).
        blocks: ids of the tasks it blocks.
        blocked_by: ids of the tasks that block it.
        metadata: its metadata.
    """

    id: str
    subject: str
    description: str
    active_form: str
    status: str
    owner: str
    blocks: tuple[str, ...]
    blocked_by: tuple[str, ...]
    metadata: dict[str, Json]

    def to_json(self) -> dict[str, Json]:
        """The file's JSON object, in Claude Code's key order."""
        return claude_schema(
            self.id, self.subject, self.description, self.active_form, self.status, self.owner,
            self.blocks, self.blocked_by, self.metadata.items(),
        )  # fmt: skip


def claude_schema(
    task_id: str, subject: str, description: str, active_form: str, status: str, owner: str,
    blocks: Iterable[str], blocked_by: Iterable[str], metadata: Iterable[tuple[str, Json]],
) -> dict[str, Json]:  # fmt: skip
    """A task as Claude Code's task files hold it: its keys, in its order, empty ones left out."""
    out: dict[str, Json] = {"id": task_id, "subject": subject, "description": description}
    if active_form:
        out["activeForm"] = active_form
    out["status"] = status
    if owner:
        out["owner"] = owner
    out["blocks"] = list(blocks)
    out["blockedBy"] = list(blocked_by)
    meta = dict(metadata)
    if meta:
        out["metadata"] = meta
    return out


def file_task(task: Task, name: str, view_id: Callable[[str], str]) -> FileTask:
    """What taskledger writes for a task under the file name ``name``."""
    return FileTask(
        id=name,
        subject=task.subject,
        description=task.description,
        active_form=task.active_form,
        status=task.status.value,
        owner=task.owner,
        blocks=tuple(view_id(i) for i in task.blocks),
        blocked_by=tuple(view_id(i) for i in task.blocked_by),
        metadata=dict(task.metadata),
    )


def render(item: FileTask) -> bytes:
    """The bytes of a task file: Claude Code's schema, two-space indent, final newline."""
    return (_json.pretty(item.to_json()) + "\n").encode()


def _ids(value: Any) -> tuple[str, ...] | None:
    if type(value) is not list or not all(type(v) is str and 0 < len(v) <= 64 for v in value):
        return None
    return tuple(value)


def parse_file(data: bytes) -> FileTask | None:
    """A task file's contents, or None when it is not (yet) a task Claude Code would read.

    None covers a file being written (empty, cut short), one that is not
    strict JSON, and one that fails Claude Code's schema.
    """
    try:
        raw = _json.loads(data)
    except ValueError:
        return None
    if type(raw) is not dict:
        return None
    ident, subject, description = raw.get("id"), raw.get("subject"), raw.get("description")
    status = raw.get("status")
    active, owner = raw.get("activeForm", ""), raw.get("owner", "")
    metadata = raw.get("metadata", {})
    blocks, blocked_by = _ids(raw.get("blocks")), _ids(raw.get("blockedBy"))
    if not (
        type(ident) is str
        and type(subject) is str
        and type(description) is str
        and status in _STATUSES
        and type(active) is str
        and type(owner) is str
        and type(metadata) is dict
        and blocks is not None
        and blocked_by is not None
    ):
        return None
    return FileTask(ident, subject, description, active, status, owner, blocks, blocked_by,
                    metadata)  # fmt: skip


def check_file(item: FileTask) -> None:
    """Refuse a file that holds more than a task may (its change is not recorded).

    Raises:
        InvalidValue: naming the field.
    """
    check_text("subject", item.subject, SUBJECT_MAX, one_line=False)
    check_text("description", item.description, DESCRIPTION_MAX)
    check_text("activeForm", item.active_form, ACTIVE_FORM_MAX)
    check_text("owner", item.owner, OWNER_MAX)
    for key, value in item.metadata.items():
        check_meta_key(key)
        check_meta_value(key, value)


# --------------------------------------------------------------------- deciding


def _base(task: Task | None, name: str) -> str | None:
    if task is None:
        return None
    for key, stamp in task.provenance:
        if key == name:
            return stamp.ref
    return None


def _scalar(task: Task, name: str, seen: Json, wanted: Json, now: Json) -> list[tuple[str, Change]]:
    """A scalar change Claude Code made (``seen`` -> ``wanted``), unless it changes nothing."""
    if wanted in (seen, now):
        return []
    return [(name, Change(seen, wanted, _base(task, name) if now == seen else None))]


def plan_native_update(
    state: State,
    task: Task,
    seen: FileTask,
    wanted: FileTask,
    task_id: Callable[[str], str | None],
    name: str,
) -> Op | None:
    """The update that records a change Claude Code made to a task file.

    Args:
        state: the state now.
        task: the task as it stands now.
        seen: the file as taskledger last wrote it (what Claude Code changed).
        wanted: the file as Claude Code left it.
        task_id: the task id a file-side id names (None: no such task).
        name: the file name of the task (for the task's own id in edges).

    Returns:
        The op, or None when the file says nothing the state does not.
    """
    now = file_task(task, name, lambda i: i)
    fields = []
    fields += _scalar(task, "subject", seen.subject, wanted.subject, now.subject)
    fields += _scalar(task, "activeForm", seen.active_form, wanted.active_form, now.active_form)
    fields += _scalar(task, "status", seen.status, wanted.status, now.status)
    fields += _scalar(task, "owner", seen.owner, wanted.owner, now.owner)
    description = None
    if wanted.description != seen.description:
        merged = merge3(seen.description, wanted.description, task.description)
        if merged != task.description:
            description = Change(seen.description, merged)
    metadata = _meta(task, seen.metadata, wanted.metadata)
    blocked_by = _edges(task, seen.blocked_by, wanted.blocked_by, task_id, state, into=True)
    blocks = _edges(task, seen.blocks, wanted.blocks, task_id, state, into=False)
    return Op.if_any(OpKind.UPDATE, task.id, fields, description, metadata, blocked_by, blocks)


def _meta(
    task: Task, seen: Mapping[str, Json], wanted: Mapping[str, Json]
) -> tuple[tuple[str, Change], ...]:
    current = task.meta()
    out: dict[str, Change] = {}
    for key, value in wanted.items():
        if seen.get(key, _MISSING) != value and current.get(key, _MISSING) != value:
            base = _base(task, f"metadata.{key}") if current.get(key) == seen.get(key) else None
            out[key] = Change(seen.get(key), value, base)
    for key in seen:
        if key not in wanted and key in current:
            base = _base(task, f"metadata.{key}") if current[key] == seen[key] else None
            out[key] = Change(seen[key], None, base)
    return tuple(sorted(out.items()))


_MISSING: Any = object()


def _edges(
    task: Task,
    seen: tuple[str, ...],
    wanted: tuple[str, ...],
    task_id: Callable[[str], str | None],
    state: State,
    *,
    into: bool,
) -> tuple[tuple[str, Change], ...]:
    """Edge changes of one side (``into``: this task's blockers; else the tasks it blocks)."""
    current = set(task.blocked_by if into else task.blocks)
    out: dict[str, Change] = {}
    for ref, on in [*((r, True) for r in wanted if r not in seen),
                    *((r, False) for r in seen if r not in wanted)]:  # fmt: skip
        other = task_id(ref)
        if other is None or other == task.id or (other in current) == on:
            continue
        if on and state.rows.get(other) is None:
            continue
        out[other] = Change(not on, on)
    return tuple(sorted(out.items()))


def plan_native_create(
    state: State,
    new_id: str,
    wanted: FileTask,
    native: tuple[str, str],
    task_id: Callable[[str], str | None],
) -> Op:
    """The create that records a task Claude Code created (``native``: machine and number).

    Raises:
        InvalidValue: when the file holds more than a task may.
    """
    check_file(wanted)
    fields = [
        ("subject", Change(None, wanted.subject)),
        ("status", Change(None, wanted.status)),
        ("native", Change(None, list(native))),
    ]
    if wanted.active_form:
        fields.append(("activeForm", Change(None, wanted.active_form)))
    if wanted.owner:
        fields.append(("owner", Change(None, wanted.owner)))
    blocked_by = []
    for ref in wanted.blocked_by:
        other = task_id(ref)
        if other is not None and other in state.rows:
            blocked_by.append((other, Change(False, True)))
    blocks = []
    for ref in wanted.blocks:
        other = task_id(ref)
        if other is not None and other in state.rows:
            blocks.append((other, Change(False, True)))
    return Op(
        OpKind.CREATE,
        new_id,
        fields=tuple(fields),
        description=Change(None, wanted.description) if wanted.description else None,
        metadata=tuple(sorted((k, Change(None, v)) for k, v in wanted.metadata.items())),
        blocked_by=tuple(sorted(blocked_by)),
        blocks=tuple(sorted(blocks)),
    )


def plan_native_delete(task: Task) -> Op:
    """The delete that records a task file Claude Code removed on its own."""
    return Op(
        OpKind.DELETE, task.id, fields=(("deleted", Change(False, True, _base(task, "deleted"))),)
    )


def valid_for_ledger(item: FileTask) -> str | None:
    """Why a file's change cannot be recorded, or None when it can."""
    try:
        check_file(item)
    except InvalidValue as exc:
        return str(exc)
    return None
