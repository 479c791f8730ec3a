"""Tasks -> Claude Code task files, written atomically.

Each live task is ``<list>/<id>.json`` in Claude Code's schema and key order
(``Task.claude_json``), written to a hidden temp file in the same folder and
renamed over the old one, so a reader never sees half a file. Deleted tasks'
files are removed. Only files that are ours are touched: names of the form
``<16 hex digits>.json``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._model import Task
from ._state import State

_OURS = re.compile(r"[0-9a-f]{16}\.json")
_ID = re.compile(r"[0-9a-f]{16}")


def render(task: Task) -> bytes:
    """The bytes of a task's file: Claude Code's schema, two-space indent."""
    return (json.dumps(task.claude_json(), indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(slots=True)
class Outcome:
    """What a materialization pass did.

    Attributes:
        files: per live task, [size, mtime_ns] of its file as it now stands.
        written: ids whose file was (re)written.
        removed: ids whose file was removed.
        errors: what the file system refused (the folder is read-only, ...).
        folder_mtime: the folder's mtime after the pass (-1 if unknown).
    """

    files: dict[str, list[int]] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    folder_mtime: int = -1


def _holds(path: Path, data: bytes) -> os.stat_result | None:
    """The file's stat if it already holds exactly ``data`` (say, another process wrote it)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size == len(data) and f.read(len(data) + 1) == data:
                return st
    except OSError:
        pass
    return None


def _write(folder: Path, ident: str, data: bytes) -> os.stat_result:
    final = folder / f"{ident}.json"
    tmp = folder / f".{ident}.json.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_bytes(data)
        tmp.replace(final)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return final.stat()


def materialize(
    folder: Path,
    state: State,
    *,
    changed: Iterable[str] | None,
    known: Mapping[str, list[int]],
    check_disk: bool,
    force: bool = False,
) -> Outcome:
    """Bring the task files in ``folder`` in line with ``state``.

    Only the tasks to write are loaded; which tasks are live comes from the
    state's rows.

    Args:
        folder: the list folder.
        state: every task (deleted ones included).
        changed: ids whose task may differ from its file; None means all.
        known: per id, [size, mtime_ns] of the file as last written.
        check_disk: also list the folder and repair files that are missing,
            replaced or stray.
        force: compare the bytes of every file that is not to be rewritten
            anyway (``taskledger materialize``, or no earlier pass to trust).

    Returns:
        What was done, and what the file system refused.
    """
    out = Outcome()
    live = {i for i, row in state.rows.items() if not row.deleted}
    todo = set(live) if changed is None and not force else set()
    if changed is not None:
        todo |= {i for i in changed if i in state.rows}
    if check_disk or force:
        on_disk: dict[str, os.stat_result] = {}
        try:
            for item in os.scandir(folder):
                if _OURS.fullmatch(item.name):
                    try:
                        on_disk[item.name[:-5]] = item.stat()
                    except FileNotFoundError:
                        continue
        except FileNotFoundError:
            pass
        except OSError as exc:
            out.errors.append(f"cannot list {folder}: {exc.strerror}")
        for ident in live - todo:
            st = on_disk.get(ident)
            if st is None or (not force and [st.st_size, st.st_mtime_ns] != known.get(ident)):
                # Missing, or rewritten since: usually by another process with the
                # same bytes, which _write notices without touching the file.
                todo.add(ident)
            elif force:
                try:
                    if (folder / f"{ident}.json").read_bytes() != render(state.tasks[ident]):
                        todo.add(ident)
                    else:
                        out.files[ident] = [st.st_size, st.st_mtime_ns]
                except OSError:
                    todo.add(ident)
        todo.update(i for i in on_disk if i not in live)
    for ident, stats in known.items():
        if ident in live and ident not in todo and ident not in out.files:
            out.files[ident] = stats
    for ident in sorted(todo):
        if not _ID.fullmatch(ident):
            continue  # never a path outside the folder, whatever a damaged cache says
        try:
            if ident not in live:
                path = folder / f"{ident}.json"
                if path.exists():
                    path.unlink()
                    out.removed.append(ident)
            else:
                data = render(state.tasks[ident])
                st = _holds(folder / f"{ident}.json", data)
                if st is None:
                    st = _write(folder, ident, data)
                    out.written.append(ident)
                out.files[ident] = [st.st_size, st.st_mtime_ns]
        except FileNotFoundError:
            if not folder.exists():
                out.errors.append(f"the list folder {folder} does not exist")
                break
        except OSError as exc:
            out.errors.append(f"cannot write task files in {folder}: {exc.strerror}")
            break
    try:
        out.folder_mtime = folder.stat().st_mtime_ns
    except OSError:
        pass
    return out
