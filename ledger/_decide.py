"""Commands decide: from the current state and a request to the op to append.

Every function here is pure: it validates the request against the state and
returns an ``Op`` whose changes record what the writer saw (old values and
the write they came from), or raises a ``LedgerError``. The write step
(``_write``) appends whatever these return.

Two states are involved: ``state`` is the state at commit time (every log
caught up, under the writer's lock), which the request is validated against;
``seen`` is the state the request was decided on (read when the command
started). Old values and bases come from ``seen``: a write made meanwhile by
someone else was not seen, so overwriting it is a conflict, not a sequential
edit. A new description is merged three ways -- the text seen, the text
wanted, the text now -- so an edit that landed meanwhile to another part of
the description survives. Changes that change nothing whatever happened
meanwhile -- removing a metadata key or an edge that is not there -- are
left out, and an update left with nothing to do appends nothing.
"""

from __future__ import annotations

from . import _json
from ._actor import Actor, until_text
from ._checks import (
    ACTIVE_FORM_MAX,
    DESCRIPTION_MAX,
    NOTE_MAX,
    OWNER_MAX,
    check_meta_key,
    check_meta_value,
    check_subject,
    check_text,
)
from ._edits import Edits
from ._errors import Blocked, ClaimHeld, InvalidValue
from ._graph import live, plan_edges
from ._model import Change, Json, Op, OpKind, Pairs, Status, Task
from ._state import State
from ._textdiff import merge3


def _base(task: Task | None, name: str) -> str | None:
    return None if task is None else task.base_of(name)


def _scalar(task: Task | None, name: str, old: Json, new: Json) -> tuple[str, Change]:
    return name, Change(old, new, _base(task, name))


def _field_changes(task: Task | None, edits: Edits) -> list[tuple[str, Change]]:
    out = []
    if edits.subject is not None:
        old = None if task is None else task.subject
        out.append(_scalar(task, "subject", old, check_subject(edits.subject)))
    if edits.active_form is not None:
        check_text("activeForm", edits.active_form, ACTIVE_FORM_MAX, one_line=True)
        old = None if task is None else task.active_form
        out.append(_scalar(task, "activeForm", old, edits.active_form))
    if edits.status is not None:
        old = None if task is None else task.status.value
        out.append(_scalar(task, "status", old, Status(edits.status).value))
    if edits.owner is not None:
        check_text("owner", edits.owner, OWNER_MAX, one_line=True)
        old = None if task is None else task.owner
        out.append(_scalar(task, "owner", old, edits.owner))
    return out


def _meta_changes(task: Task | None, edits: Edits) -> Pairs:
    current = task.meta() if task else {}
    out: dict[str, Change] = {}
    for key in edits.unset_meta:
        check_meta_key(key)
        if key in current:
            out[key] = Change(current[key], None, _base(task, f"metadata.{key}"))
    for key, value in edits.set_meta.items():
        check_meta_key(key)
        check_meta_value(key, value)
        out[key] = Change(current.get(key), value, _base(task, f"metadata.{key}"))
    return tuple(sorted(out.items()))


def _same(a: Json, b: Json) -> bool:
    """Equal as JSON values (``1``, ``1.0`` and ``true`` are three different values)."""
    return type(a) is type(b) and _json.dumps(a) == _json.dumps(b)


def _effective(
    state: State, now: Task, fields: list[tuple[str, Change]], metadata: Pairs,
    blocked_by: Pairs, blocks: Pairs,
) -> tuple[list[tuple[str, Change]], Pairs, Pairs, Pairs]:  # fmt: skip
    """Drop the changes that the task already shows as it stands now."""
    current = {"subject": now.subject, "activeForm": now.active_form,
               "status": now.status.value, "owner": now.owner}  # fmt: skip
    meta = now.meta()
    fields = [(n, c) for n, c in fields if not _same(current.get(n), c.new)]
    metadata = tuple(
        (k, c)
        for k, c in metadata
        if not (_same(meta.get(k), c.new) and (k in meta) is (c.new is not None))
    )
    blocked_by = tuple((o, c) for o, c in blocked_by if (o in now.blocked_by) is not c.new)
    blocks = tuple(
        (o, c) for o, c in blocks
        if o not in state.tasks or (now.id in state.tasks[o].blocked_by) is not c.new
    )  # fmt: skip
    return fields, metadata, blocked_by, blocks


def plan_create(state: State, task_id: str, edits: Edits) -> Op:
    """Decide a create.

    Args:
        state: the current state.
        task_id: the id the new task gets.
        edits: its fields; ``subject`` is required.

    Raises:
        InvalidValue: for a missing subject or a field out of bounds.
        NotFound, Ambiguous, DependencyError: for bad dependencies.
    """
    if edits.subject is None:
        raise InvalidValue("subject must not be empty")
    fields = _field_changes(None, edits)
    if edits.status is None:
        fields.append(("status", Change(None, Status.PENDING.value)))
    description = None
    if edits.description:
        check_text("description", edits.description, DESCRIPTION_MAX)
        description = Change(None, edits.description)
    blocked_by, blocks = plan_edges(state, state, task_id, edits, None, "the new task")
    return Op(
        OpKind.CREATE,
        task_id,
        fields=tuple(fields),
        description=description,
        metadata=_meta_changes(None, edits),
        blocked_by=blocked_by,
        blocks=blocks,
    )


def _description(seen: Task, now: Task, wanted: str | None) -> Change | None:
    """A new description merged three ways (seen, wanted, now); None when it changes nothing."""
    if wanted is None:
        return None
    check_text("description", wanted, DESCRIPTION_MAX)
    merged = merge3(seen.description, wanted, now.description)
    return None if merged == now.description else Change(seen.description, merged)


def plan_update(
    state: State,
    ref: str,
    edits: Edits,
    kind: OpKind = OpKind.UPDATE,
    seen: State | None = None,
    actor: Actor | None = None,
) -> Op | None:
    """Decide an update of the named fields only.

    Args:
        state: the state now, to validate against.
        ref: the task's id or unique prefix.
        edits: the fields to change.
        kind: the op kind to record (update, claim, release).
        seen: the state the request was decided on (default: ``state``).
        actor: who acts; checks claims and renews the actor's own lease.

    Returns:
        The op, or None when nothing is left to change (removing what is not there).

    Raises:
        InvalidValue: when nothing is named or a value is out of bounds.
        NotFound, Ambiguous, TaskDeleted: for a bad id.
        DependencyError: for a missing dependency target or a cycle.
        ClaimHeld: for a status or owner change of a task another session
            holds, without ``actor.force``.
    """
    if edits.is_empty():
        raise InvalidValue("nothing to update: name at least one field to change")
    seen = state if seen is None else seen
    now = live(state, ref)
    task = seen.tasks.get(now.id, now)
    fields = _field_changes(task, edits)
    if actor is not None:
        if edits.status is not None or edits.owner is not None:
            actor.check_may_change_claim(state, now, "changing its status or owner")
        renew = actor.renewal(now)
    description = _description(task, now, edits.description)
    blocked_by, blocks = plan_edges(state, seen, now.id, edits, task, state.short(now.id))
    metadata = _meta_changes(task, edits)
    if kind is OpKind.UPDATE:  # what already holds is no change (a claim still records)
        fields, metadata, blocked_by, blocks = _effective(state, now, fields, metadata,
                                                          blocked_by, blocks)  # fmt: skip
    if not (fields or description or metadata or blocked_by or blocks):
        return None
    if actor is not None and renew is not None:
        fields.append(renew)
    return Op.if_any(kind, now.id, fields, description, metadata, blocked_by, blocks)


def plan_note(state: State, ref: str, text: str, actor: Actor | None = None) -> Op:
    """Decide a note (anyone may add one; the holder's note renews its lease).

    Raises:
        InvalidValue: for an empty or oversized note.
        NotFound, Ambiguous, TaskDeleted: for a bad id.
    """
    check_text("note", text, NOTE_MAX)
    if not text.strip():
        raise InvalidValue("note must not be empty")
    task = live(state, ref)
    renew = None if actor is None else actor.renewal(task)
    return Op(OpKind.NOTE, task.id, fields=() if renew is None else (renew,), note=text)


def plan_delete(
    state: State, ref: str, seen: State | None = None, actor: Actor | None = None
) -> Op:
    """Decide a delete (a tombstone; history keeps the task).

    Raises:
        NotFound, Ambiguous, TaskDeleted: for a bad id.
        ClaimHeld: for a task another session holds, without ``actor.force``.
    """
    task = live(state, ref)
    if actor is not None:
        actor.check_may_change_claim(state, task, "deleting it")
    was = (state if seen is None else seen).tasks.get(task.id, task)
    return Op(OpKind.DELETE, task.id, fields=(_scalar(was, "deleted", False, True),))


def plan_claim(
    state: State, ref: str, actor: Actor, lease_ms: int, seen: State | None = None
) -> Op:
    """Decide a claim: owner := the actor, status := in_progress, lease := now + lease_ms.

    Raises:
        NotFound, Ambiguous, TaskDeleted: for a bad id.
        InvalidValue: for a completed task.
        Blocked: for incomplete blockers, naming them, unless ``actor.force``.
        ClaimHeld: when another session holds the task, unless ``actor.force``.
    """
    task = live(state, ref)
    was = (state if seen is None else seen).tasks.get(task.id, task)
    short = state.short(task.id)
    if task.status is Status.COMPLETED:
        raise InvalidValue(f"task {short} is completed; there is nothing to claim")
    blockers = state.open_blockers(task)
    if blockers and not (actor.force or actor.past_blockers):
        names = ", ".join(f"{state.short(b)} ({state.tasks[b].subject})" for b in blockers)
        raise Blocked(f"task {short} is blocked by {names}; claim it anyway with --force")
    if actor.holder not in (None, actor.session) and not actor.force:
        raise ClaimHeld(f"task {short} is held by {actor.holder}{until_text(task, actor.holder)}")
    old_lease = was.lease.until_ms if was.lease is not None else None
    return Op(
        OpKind.CLAIM,
        task.id,
        fields=(
            _scalar(was, "owner", was.owner, actor.session),
            _scalar(was, "status", was.status.value, Status.IN_PROGRESS.value),
            _scalar(was, "lease", old_lease, actor.now_ms + lease_ms),
        ),
    )


def plan_release(state: State, ref: str, actor: Actor, seen: State | None = None) -> Op:
    """Decide a release: owner cleared, lease ended, status back to pending unless completed.

    Raises:
        NotFound, Ambiguous, TaskDeleted: for a bad id.
        ClaimHeld: when another session holds the task, unless ``actor.force``.
        InvalidValue: when the actor neither holds nor owns the task.
    """
    task = live(state, ref)
    was = (state if seen is None else seen).tasks.get(task.id, task)
    short = state.short(task.id)
    mine = actor.holder == actor.session or (actor.holder is None and task.owner == actor.session)
    if not (mine or actor.force):
        if actor.holder is not None:
            raise ClaimHeld(f"task {short} is held by {actor.holder}, not by {actor.session}")
        raise InvalidValue(f"task {short} is not claimed by {actor.session}")
    fields = [
        _scalar(was, "owner", was.owner, ""),
        _scalar(was, "lease", was.lease.until_ms if was.lease else None, None),
    ]
    if task.status is not Status.COMPLETED:
        fields.insert(1, _scalar(was, "status", was.status.value, Status.PENDING.value))
    return Op(OpKind.RELEASE, task.id, fields=tuple(fields))
