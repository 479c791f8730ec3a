"""What a write does to Claude Code's folder: its own task files, and nothing else.

A writer appends and returns (issue 15): it brings in line only the files
its op changes (``Committed.files``). The files of tasks other writers
changed -- which the catch-up before its append read -- are those writers'
to write, and each writes them under Claude Code's lock after catching up,
so the last write of a file holds every op read before it (a task that an
op read by a catch-up during the write changed stays unviewed: ``show``).
What a writer that died between its append and its file leaves behind is
found by whoever reads next: the writers keep those tasks in their
replayer's *unviewed* set and name them in every snapshot head they save
(``Head.unviewed``); a reader (``Ledger.state``, ``look``) looks at each of
them and at every op it caught up itself, and puts back what it could not
bring in line. A writer holding more than ``UNVIEWED_MAX`` of them looks at
them itself, so the heads writers save name at most that many (a read that
makes no pass, ``seen``, names all it read, until the next pass).

Before deciding, a writer looks at the files of the tasks it writes
(``needs_pass``): a change Claude Code made there is recorded first (by the
reader's pass), so it is never recorded after, and over, a later write; and
when the folder moved since the last pass, at its names: a task Claude Code
created is recorded before the write, so no removal of the folder after it
can take it. Changes to the other files are recorded by the next read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from ._baseline import Baselines
from ._errors import Ambiguous, NotFound
from ._ids import is_native_id, is_task_id
from ._settled import open_folder, untrusted

if TYPE_CHECKING:
    from ._carry import Carry
    from ._fs import Dir
    from ._layout import Layout
    from ._outcome import Outcome
    from ._reader import Reader
    from ._state import State
    from ._view import View
    from ._write import Committed

#: a writer looks at the other writers' files itself past this many (see the module)
UNVIEWED_MAX = 128


def needs_pass(
    layout: Layout, state: State, task_ids: Collection[str], carry: Carry | None
) -> bool:
    """Whether a change Claude Code made must be recorded before this write: one in
    the file of a task it writes (``task_ids``: the one it changes, the ones it links
    and those shown beside it), or a task file Claude Code created (recorded now,
    whatever happens to the folder next). Changes to other files wait for the next
    read, unless no pass ever looked the folder over, or the last one failed."""
    folder = open_folder(layout)
    if folder is None:
        return True
    with folder, Baselines(layout, carry) as marks:
        try:
            st = os.fstat(folder.fd)
            if not marks.quiet(st) and (untrusted(marks, st) or _unknown_file(folder, state)):
                return True
            return not all(_untouched(folder, marks, state, t) for t in task_ids)
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
    """Whether the task's file holds what taskledger last wrote there (or neither
    exists). Only its baseline says so: a file that holds what the state says but
    not its baseline (its writer died before writing that) is recorded before the
    write too, where that records nothing, rather than after it, over it."""
    name = state.aliases.get(task_id, task_id)
    return folder.read(f"{name}.json") == marks.baseline(task_id)


def decided_on(
    reader: Reader, layout: Layout, carry: Carry | None, noticed: set[str],
    read: Callable[[], State], ref: str | None, links: Sequence[str] = (),
) -> State:  # fmt: skip
    """The state a write decides on: every log caught up, and what Claude Code
    changed in the files of the tasks ``ref`` and ``links`` name (and those shown
    beside ``ref``'s) recorded first (``needs_pass``; else ``read``: a reader's
    pass, which looks at the ``noticed`` files too)."""
    state = reader.rebuilding(lambda: reader.state(save=False))  # (saved after the write)
    try:
        ids = [state.resolve(r) for r in (*(() if ref is None else (ref,)), *links)]
    except (NotFound, Ambiguous):
        return read()  # (a number Claude Code just gave may name it)
    if ref is not None:
        edges = state.edges
        ids += [*edges.blocks.get(ids[0], ()), *edges.blocked_by.get(ids[0], ())]
    if noticed or needs_pass(layout, state, ids, carry):
        noticed.update(ids)
        return read()
    return state


def show(view: View, reader: Reader, committed: Committed, warnings: list[str]) -> None:
    """Bring the files of a write's tasks in line (and, past ``UNVIEWED_MAX``, the
    files the other writers' ops it read may have left behind). A task whose file a
    catch-up under a lock found behind again stays unviewed."""
    index = None if reader.replayer is None else reader.replayer.index
    groups = [(committed.files(), True)]
    if index is not None and len(index.unviewed()) > UNVIEWED_MAX:
        groups.append((index.unviewed(), False))
    for ids, own in groups:
        since = -1 if index is None else (index.edges(), index.view_tick)[1]
        outcome = view.sync(ids, committed.state, own=own)
        warnings.extend(f"task files not updated: {e}" for e in outcome.errors)
        if index is not None and not (outcome.errors or outcome.left):
            index.viewed(ids, since)


def look(view: View, reader: Reader, changed: set[str], *, full: bool = False) -> Outcome:
    """A reader's pass over the folder (``View.reconcile``); the tasks of ``changed``
    it could not bring in line are looked at again by the next one."""
    try:
        outcome = view.reconcile(changed, full=full)
    except BaseException:
        reader.unview(changed)
        raise
    if outcome.errors or outcome.left:
        reader.unview(changed)
    return outcome
