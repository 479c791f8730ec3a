"""Did anything happen in Claude Code's folder since the last pass? (one ``stat``, mostly)

``settled`` answers the question every command asks with one ``stat`` and
one small read, and imports nothing else of the ledger.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from ._baseline import Baselines
from ._errors import StorageError
from ._fs import Dir
from ._ids import is_native_id, is_task_id
from ._layout import Layout

if TYPE_CHECKING:
    from ._carry import Carry


def settled(layout: Layout, carry: Carry | None = None) -> bool:
    """True when nothing changed in the folder since the last pass.

    One ``stat`` when the folder's stamp can be trusted; otherwise a scan that
    compares every file's stat with the one the last pass left -- and the
    bytes of a file written so recently that its stat cannot tell -- and
    trusts the folder from then on if it is quiet now.
    """
    folder = open_folder(layout)
    if folder is None:
        return False
    with folder, Baselines(layout, carry) as marks:
        st = os.fstat(folder.fd)
        if marks.quiet(st):
            return True
        if untrusted(marks, st) or marks.at is None:  # (the second for the type checker)
            return False
        started = time.time_ns()
        names = scan(folder)
        if names.keys() != marks.all_stats().keys():
            return False
        for name, stat in names.items():
            if marks.stat(name) != stat:
                return False
            if stat[1] + marks.quiet_ns > marks.at and not marks.same(folder, name):
                return False
        marks.settle(folder, started)
        return True


def open_folder(layout: Layout) -> Dir | None:
    """Claude Code's folder, opened; None when it is missing or refused (then the
    question is answered by a pass, which says why it cannot look)."""
    try:
        return layout.open_view()
    except (StorageError, OSError):
        return None


def untrusted(marks: Baselines, st: os.stat_result) -> bool:
    """Whether the last pass's stamp says nothing of a folder that is not quiet: no
    pass looked it over, the last one left work undone, or the folder is a new one."""
    return marks.at is None or marks.pending or marks.replaced(st)


def flush(layout: Layout, carry: Carry) -> None:
    """Write what a long-lived process carries, now (it is closing, see ``_carry``).

    Run when its ``Ledger`` is collected or the interpreter exits: left
    unwritten, the stats of every file its passes wrote are lost, and the
    next process compares every file of the folder once (4 s at 10k tasks).
    """
    if not carry:
        return
    carry.since = float("-inf")  # (due)
    try:
        with Baselines(layout, carry):
            pass
    except (OSError, StorageError):
        pass  # lost, as when the process dies: the next pass compares the files


def scan(folder: Dir) -> dict[str, tuple[int, int, int]]:
    """The task-like files of the folder: name (without ``.json``) -> (size, mtime, inode)."""
    out = {}
    for entry in folder.entries():
        name = entry.name
        if not name.endswith(".json") or name.startswith("."):
            continue
        stem = name[:-5]
        if not (is_task_id(stem) or is_native_id(stem)):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        out[stem] = scan_stat(st)
    return out


def scan_stat(st: os.stat_result) -> tuple[int, int, int]:
    """What ``scan`` keeps of a file's stat: (size, mtime, inode)."""
    return st.st_size, st.st_mtime_ns, st.st_ino
