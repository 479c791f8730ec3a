"""Dependencies: resolving edge edits against the state, refusing cycles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import DependencyError, TaskDeleted
from ._model import Change, Pairs, Task
from ._state import State

if TYPE_CHECKING:
    from ._edits import Edits


def _base(task: Task | None, name: str) -> str | None:
    return None if task is None else task.base_of(name)


def live(state: State, ref: str) -> Task:
    """The task a reference names (raises NotFound, Ambiguous; TaskDeleted for a tombstone)."""
    task = state.find(ref)
    if task.deleted:
        raise TaskDeleted(f"task {state.short(task.id)} is deleted")
    return task


class Graph:
    """The edges of a state, as a change to them is checked for cycles."""

    def __init__(self, state: State, task_id: str, name: str) -> None:
        self.state = state
        self.task_id = task_id
        self.name = name
        self.blocks = {k: set(v) for k, v in state.edges.blocks.items()}

    def show(self, ident: str) -> str:
        return self.name if ident == self.task_id else self.state.short(ident)

    def reaches(self, start: str, goal: str) -> bool:
        seen, stack = {start}, [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            for nxt in self.blocks.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def target(self, ref: str) -> Task:
        try:
            other = live(self.state, ref)
        except TaskDeleted as exc:
            raise DependencyError(f"{exc}; it cannot be a dependency") from exc
        if other.id == self.task_id:
            raise DependencyError("a task cannot depend on itself")
        return other

    def add(self, blocker: str, blocked: str) -> None:
        if self.reaches(blocked, blocker):
            raise DependencyError(
                f"{self.show(blocker)} -> {self.show(blocked)} would create a cycle"
            )
        self.blocks.setdefault(blocker, set()).add(blocked)

    def remove(self, blocker: str, blocked: str) -> None:
        self.blocks.get(blocker, set()).discard(blocked)


def plan_edges(
    state: State, seen: State, task_id: str, edits: Edits, current: Task | None, name: str
) -> tuple[Pairs, Pairs]:
    """Resolve and validate edge edits: (blocked_by changes, blocks changes).

    Cycles are checked against ``state``; old values and bases come from
    ``seen``. Removing an edge that is not there is left out.
    """
    graph = Graph(state, task_id, name)
    blocked_by: dict[str, Change] = {}
    blocks: dict[str, Change] = {}
    for ref in edits.remove_blocked_by:
        other = state.find(ref)
        if current is not None and other.id in current.blocked_by:
            blocked_by[other.id] = Change(True, False, _base(current, f"blockedBy.{other.id}"))
        graph.remove(other.id, task_id)
    for ref in edits.remove_blocks:
        other = state.find(ref)
        was = seen.tasks.get(other.id)
        if was is not None and task_id in was.blocked_by:
            blocks[other.id] = Change(True, False, _base(was, f"blockedBy.{task_id}"))
        graph.remove(task_id, other.id)
    for ref in edits.add_blocked_by:
        other = graph.target(ref)
        on = current is not None and other.id in current.blocked_by
        graph.add(other.id, task_id)
        blocked_by[other.id] = Change(on, True, _base(current, f"blockedBy.{other.id}"))
    for ref in edits.add_blocks:
        other = graph.target(ref)
        was = seen.tasks.get(other.id)
        on = was is not None and task_id in was.blocked_by
        graph.add(task_id, other.id)
        blocks[other.id] = Change(on, True, _base(was, f"blockedBy.{task_id}"))
    return tuple(sorted(blocked_by.items())), tuple(sorted(blocks.items()))
