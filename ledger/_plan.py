"""Commands decide: from the current state and a request to the op to append.

Every function here is pure: it validates the request against the state and
returns an ``Op`` whose changes record what the writer saw (old values and
the write they came from), or raises a ``LedgerError``. The service in
``_store`` appends whatever these return.

Two states are involved: ``state`` is the state at commit time (every log
caught up, under the writer's lock), which the request is validated against;
``seen`` is the state the request was decided on (read when the command
started). Old values and bases come from ``seen``: a write made meanwhile
by someone else was not seen, so overwriting it is a conflict, not a
sequential edit. A new description is merged three ways -- the text seen,
the text wanted, the text now -- so an edit that landed meanwhile to another
part of the description survives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._errors import Blocked, ClaimHeld, DependencyError, InvalidValue, TaskDeleted
from ._model import Change, Json, Op, OpKind, Status, Task
from ._state import State
from ._textdiff import merge3
from ._timeparse import iso_ms

SUBJECT_MAX = 1_000
ACTIVE_FORM_MAX = 1_000
OWNER_MAX = 200
DESCRIPTION_MAX = 200_000
NOTE_MAX = 100_000
META_KEY_MAX = 200
META_VALUE_MAX = 100_000


def check_text(name: str, value: str, limit: int, *, one_line: bool = False) -> str:
    """Validate a text field: encodable, within its limit, one line if asked.

    Raises:
        InvalidValue: naming the field and the rule it breaks.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue(f"{name} is not valid UTF-8 text") from exc
    if len(value) > limit:
        raise InvalidValue(f"{name} is {len(value):,} characters long; the limit is {limit:,}")
    if one_line and ("\n" in value or "\r" in value):
        raise InvalidValue(f"{name} must be a single line")
    return value


def check_meta_value(key: str, value: Json) -> Json:
    """Validate a metadata value: JSON-encodable and within its limit.

    Raises:
        InvalidValue: when it is not.
    """
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise InvalidValue(f"metadata {key!r} is not a JSON value") from exc
    if len(text) > META_VALUE_MAX:
        raise InvalidValue(
            f"metadata {key!r} is {len(text):,} characters long; the limit is {META_VALUE_MAX:,}"
        )
    return value


def check_meta_key(key: str) -> str:
    """Validate a metadata key.

    Raises:
        InvalidValue: when it is empty, too long or not text.
    """
    if not key:
        raise InvalidValue("metadata key must not be empty")
    return check_text("metadata key", key, META_KEY_MAX, one_line=True)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts on a task, when, and what they found about its claim.

    Attributes:
        session: the acting session.
        now_ms: the wall clock, epoch ms (leases are wall-clock times).
        force: override another session's live claim.
        holder: the session holding the task under a live lease, as the
            service found it in the logs and in the claim files, if any.
    """

    session: str
    now_ms: int
    force: bool = False
    holder: str | None = None

    def check_may_change_claim(self, state: State, task: Task, what: str) -> None:
        """Refuse a change of status, owner or existence while another session holds the task.

        Raises:
            ClaimHeld: naming the holder, unless ``force``.
        """
        if self.force or self.holder is None or self.holder == self.session:
            return
        until = ""
        if task.lease is not None and task.lease.holder == self.holder:
            until = f" until {task.lease.until}"
        raise ClaimHeld(
            f"task {state.short(task.id)} is held by {self.holder}{until}; {what} needs --force"
        )

    def renewal(self, task: Task) -> tuple[str, Change] | None:
        """The lease change that renews the actor's own live claim, if it holds one."""
        lease = task.lease
        if (
            lease is None
            or self.holder != self.session
            or lease.holder != self.session
            or not lease.live(self.now_ms)
        ):
            return None
        length = max(lease.until_ms - lease.stamp.wall_ms, 1000)
        return "lease", Change(lease.until_ms, self.now_ms + length, lease.stamp.ref)


def _subject(value: str) -> str:
    check_text("subject", value, SUBJECT_MAX, one_line=True)
    if not value.strip():
        raise InvalidValue("subject must not be empty")
    return value


def _base(task: Task | None, name: str) -> str | None:
    if task is None:
        return None
    for key, stamp in task.provenance:
        if key == name:
            return stamp.ref
    return None


def _live(state: State, ref: str) -> Task:
    task = state.find(ref)
    if task.deleted:
        raise TaskDeleted(f"task {state.short(task.id)} is deleted")
    return task


@dataclass(frozen=True, slots=True)
class Edits:
    """The field edits of a create or update request (None: leave as is).

    Attributes:
        subject: new subject.
        description: new description (applied as a minimal text diff).
        active_form: new active form ("" clears it).
        status: new status.
        owner: new owner ("" clears it).
        add_blocked_by: ids (or prefixes) of tasks that must block this one.
        remove_blocked_by: ids of blockers to drop.
        add_blocks: ids of tasks this one must block.
        remove_blocks: ids of tasks to stop blocking.
        set_meta: metadata keys to set.
        unset_meta: metadata keys to remove.
    """

    subject: str | None = None
    description: str | None = None
    active_form: str | None = None
    status: Status | None = None
    owner: str | None = None
    add_blocked_by: Sequence[str] = ()
    remove_blocked_by: Sequence[str] = ()
    add_blocks: Sequence[str] = ()
    remove_blocks: Sequence[str] = ()
    set_meta: Mapping[str, Json] = field(default_factory=dict)
    unset_meta: Sequence[str] = ()

    def is_empty(self) -> bool:
        """True when the request changes nothing."""
        return (
            self.subject is None
            and self.description is None
            and self.active_form is None
            and self.status is None
            and self.owner is None
            and not self.add_blocked_by
            and not self.remove_blocked_by
            and not self.add_blocks
            and not self.remove_blocks
            and not self.set_meta
            and not self.unset_meta
        )


def _edges(
    state: State, seen: State, task_id: str, edits: Edits, current: Task | None
) -> tuple[tuple[tuple[str, Change], ...], tuple[tuple[str, Change], ...]]:
    """Resolve and validate edge edits: (blocked_by changes, blocks changes).

    Cycles are checked against ``state``; old values and bases come from ``seen``.
    """
    graph: dict[str, set[str]] = {k: set(v) for k, v in state.edges.blocks.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = {start}, [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            for nxt in graph.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def target(ref: str) -> Task:
        try:
            other = _live(state, ref)
        except TaskDeleted as exc:
            raise DependencyError(f"{exc}; it cannot be a dependency") from exc
        if other.id == task_id:
            raise DependencyError("a task cannot depend on itself")
        return other

    def add(blocker: str, blocked: str) -> None:
        if reaches(blocked, blocker):
            raise DependencyError(
                f"{state.short(blocker)} -> {state.short(blocked)} would create a cycle"
            )
        graph.setdefault(blocker, set()).add(blocked)

    def remove(blocker: str, blocked: str) -> None:
        graph.get(blocker, set()).discard(blocked)

    def seen_task(ident: str) -> Task | None:
        return seen.tasks.get(ident)

    blocked_by: dict[str, Change] = {}
    blocks: dict[str, Change] = {}
    for ref in edits.remove_blocked_by:
        other = state.find(ref)
        on = current is not None and other.id in current.blocked_by
        blocked_by[other.id] = Change(on, False, _base(current, f"blockedBy.{other.id}"))
        remove(other.id, task_id)
    for ref in edits.remove_blocks:
        other = state.find(ref)
        was = seen_task(other.id)
        on = was is not None and task_id in was.blocked_by
        blocks[other.id] = Change(on, False, _base(was, f"blockedBy.{task_id}"))
        remove(task_id, other.id)
    for ref in edits.add_blocked_by:
        other = target(ref)
        on = current is not None and other.id in current.blocked_by
        add(other.id, task_id)
        blocked_by[other.id] = Change(on, True, _base(current, f"blockedBy.{other.id}"))
    for ref in edits.add_blocks:
        other = target(ref)
        was = seen_task(other.id)
        on = was is not None and task_id in was.blocked_by
        add(task_id, other.id)
        blocks[other.id] = Change(on, True, _base(was, f"blockedBy.{task_id}"))
    return tuple(sorted(blocked_by.items())), tuple(sorted(blocks.items()))


def _scalar(task: Task | None, name: str, old: Json, new: Json) -> tuple[str, Change]:
    return name, Change(old, new, _base(task, name))


def _field_changes(task: Task | None, edits: Edits) -> list[tuple[str, Change]]:
    out = []
    if edits.subject is not None:
        old = None if task is None else task.subject
        out.append(_scalar(task, "subject", old, _subject(edits.subject)))
    if edits.active_form is not None:
        check_text("activeForm", edits.active_form, ACTIVE_FORM_MAX, one_line=True)
        old = None if task is None else task.active_form
        out.append(_scalar(task, "activeForm", old, edits.active_form))
    if edits.status is not None:
        old = None if task is None else task.status.value
        out.append(_scalar(task, "status", old, edits.status.value))
    if edits.owner is not None:
        check_text("owner", edits.owner, OWNER_MAX, one_line=True)
        old = None if task is None else task.owner
        out.append(_scalar(task, "owner", old, edits.owner))
    return out


def _meta_changes(task: Task | None, edits: Edits) -> tuple[tuple[str, Change], ...]:
    current = task.meta() if task else {}
    out: dict[str, Change] = {}
    for key in edits.unset_meta:
        check_meta_key(key)
        out[key] = Change(current.get(key), None, _base(task, f"metadata.{key}"))
    for key, value in edits.set_meta.items():
        check_meta_key(key)
        check_meta_value(key, value)
        out[key] = Change(current.get(key), value, _base(task, f"metadata.{key}"))
    return tuple(sorted(out.items()))


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
    blocked_by, blocks = _edges(state, state, task_id, edits, None)
    return Op(
        OpKind.CREATE,
        task_id,
        fields=tuple(fields),
        description=description,
        metadata=_meta_changes(None, edits),
        blocked_by=blocked_by,
        blocks=blocks,
    )


def plan_update(
    state: State,
    ref: str,
    edits: Edits,
    kind: OpKind = OpKind.UPDATE,
    seen: State | None = None,
    actor: Actor | None = None,
) -> Op:
    """Decide an update of the named fields only.

    Args:
        state: the state now, to validate against.
        ref: the task's id or unique prefix.
        edits: the fields to change.
        kind: the op kind to record (update, claim, release).
        seen: the state the request was decided on (default: ``state``).
        actor: who acts; checks claims and renews the actor's own lease.

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
    now = _live(state, ref)
    task = seen.tasks.get(now.id, now)
    fields = _field_changes(task, edits)
    if actor is not None:
        if edits.status is not None or edits.owner is not None:
            actor.check_may_change_claim(state, now, "changing its status or owner")
        renew = actor.renewal(now)
        if renew is not None:
            fields.append(renew)
    description = None
    if edits.description is not None:
        check_text("description", edits.description, DESCRIPTION_MAX)
        merged = merge3(task.description, edits.description, now.description)
        description = Change(task.description, merged)
    blocked_by, blocks = _edges(state, seen, now.id, edits, task)
    return Op(
        kind,
        now.id,
        fields=tuple(fields),
        description=description,
        metadata=_meta_changes(task, edits),
        blocked_by=blocked_by,
        blocks=blocks,
    )


def plan_note(state: State, ref: str, text: str, actor: Actor | None = None) -> Op:
    """Decide a note (anyone may add one; the holder's note renews its lease).

    Raises:
        InvalidValue: for an empty or oversized note.
        NotFound, Ambiguous, TaskDeleted: for a bad id.
    """
    check_text("note", text, NOTE_MAX)
    if not text.strip():
        raise InvalidValue("note must not be empty")
    task = _live(state, ref)
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
    task = _live(state, ref)
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
    task = _live(state, ref)
    was = (state if seen is None else seen).tasks.get(task.id, task)
    short = state.short(task.id)
    if task.status is Status.COMPLETED:
        raise InvalidValue(f"task {short} is completed; there is nothing to claim")
    blockers = state.open_blockers(task)
    if blockers and not actor.force:
        names = ", ".join(f"{state.short(b)} ({state.tasks[b].subject})" for b in blockers)
        raise Blocked(f"task {short} is blocked by {names}; claim it anyway with --force")
    if actor.holder not in (None, actor.session) and not actor.force:
        until = ""
        if task.lease is not None and task.lease.holder == actor.holder:
            until = f" until {task.lease.until}"
        raise ClaimHeld(f"task {short} is held by {actor.holder}{until}")
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
    task = _live(state, ref)
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


def lease_end(ms: int) -> str:
    """A lease end for messages."""
    return iso_ms(ms)
