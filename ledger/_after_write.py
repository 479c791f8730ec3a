"""What a write does to Claude Code's folder: its own task files, and nothing else.

A writer appends and returns (issue 15): it brings in line only the files
its op changes (``Committed.files``). The files of tasks other writers
changed -- which the catch-up before its append read -- are those writers'
to write, and each writes them under Claude Code's lock after catching up,
so the last write of a file holds every op before it. What a writer that
died between its append and its file leaves behind is found by whoever
reads next: the writers keep those tasks in their replayer's *unviewed* set
and name them in every snapshot head they save (``Head.unviewed``); a
reader (``Ledger.state``) looks at each of them and at every op it caught
up itself. A writer holding more than ``UNVIEWED_MAX`` of them looks at
them itself, so a reader never has more than that many to look at.

Before deciding, a writer looks at the file of the task it changes
(``needs_pass``): a change Claude Code made there is recorded first (by the
reader's pass), so it is never recorded after, and over, a later write; and
when the folder moved since the last pass, at its names: a task Claude Code
created is recorded before the write, so no removal of the folder after it
can take it. Changes to the other files are recorded by the next read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._baseline import Baselines
from ._errors import Ambiguous, NotFound, StorageError
from ._ids import is_native_id, is_task_id

if TYPE_CHECKING:
    from ._carry import Carry
    from ._fs import Dir
    from ._layout import Layout
    from ._reader import Reader
    from ._state import State
    from ._view import View
    from ._write import Committed

#: a writer looks at the other writers' files itself past this many (see the module)
UNVIEWED_MAX = 128


def needs_pass(layout: Layout, state: State, task_id: str | None, carry: Carry | None) -> bool:
    """Whether a change Claude Code made must be recorded before this write: one in
    the file of the task it changes (``task_id``), or a task file it created (recorded
    now, whatever happens to the folder next). Changes to other files wait for the
    next read, unless no pass ever looked the folder over, or the last one failed."""
    try:
        folder = layout.open_view()
    except StorageError:
        return True
    if folder is None:
        return True
    with folder, Baselines(layout, carry) as marks:
        try:
            st = os.fstat(folder.fd)
            if not marks.quiet(st):
                if marks.at is None or marks.pending or marks.replaced(st):
                    return True  # (never looked over, a write failed, or the folder is new)
                if _unknown_file(folder, state):
                    return True
            if task_id is None:
                return False
            return not _untouched(folder, marks, state, task_id)
        except OSError:
            return True


def _unknown_file(folder: Dir, state: State) -> bool:
    """Whether the folder holds a task file of no task the state knows."""
    for entry in folder.names():
        if entry.endswith(".json") and not entry.startswith("."):
            stem = entry[:-5]
            if is_task_id(stem) and stem not in state.rows:
                return True
            if is_native_id(stem) and state.by_alias(stem) is None:
                return True
    return False


def _untouched(folder: Dir, marks: Baselines, state: State, task_id: str) -> bool:
    """Whether the task's file holds what taskledger last wrote there (or neither exists),
    or what the state says (another writer's, whose baseline is not written yet)."""
    from ._view import renders

    name = state.aliases.get(task_id, task_id)
    data = folder.read(f"{name}.json")
    return data == marks.baseline(task_id) or (
        data is not None and data == renders(state, task_id, name)
    )


def decided_on(
    reader: Reader, layout: Layout, carry: Carry | None, noticed: set[str],
    read: Callable[[], State], ref: str | None,
) -> State:  # fmt: skip
    """The state a write decides on: every log caught up, and what Claude Code
    changed in the file of the task ``ref`` names recorded first (``needs_pass``;
    else ``read``: a reader's pass, which looks at the ``noticed`` files too)."""
    state = reader.rebuilding(lambda: reader.state(save=False))  # (saved after the write)
    try:
        task_id = None if ref is None else state.resolve(ref)
    except (NotFound, Ambiguous):
        return read()  # (a number Claude Code just gave may name it)
    if noticed or needs_pass(layout, state, task_id, carry):
        noticed.update(() if task_id is None else (task_id,))
        return read()
    return state


def show(view: View, reader: Reader, committed: Committed, warnings: list[str]) -> None:
    """Bring the files of a write's tasks in line (and, past ``UNVIEWED_MAX``, the
    files the other writers' ops it read may have left behind)."""
    index = None if reader.replayer is None else reader.replayer.index
    files = committed.files()
    outcomes = [view.sync(files, committed.state)]
    if index is not None and not (outcomes[0].errors or outcomes[0].left):
        index.viewed(files)
    others = set() if index is None else index.unviewed()
    if index is not None and len(others) > UNVIEWED_MAX:
        others = set(others)
        outcomes.append(view.sync(others, committed.state, own=False))
        if not (outcomes[-1].errors or outcomes[-1].left):
            index.viewed(others)
    warnings.extend(f"task files not updated: {e}" for o in outcomes for e in o.errors)
