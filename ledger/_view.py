"""The Claude Code folder: state -> task files, and Claude Code's writes -> ops.

Claude Code sessions write the same folder with their own Task tools. A
task file holding both the bytes taskledger last wrote there (its
*baseline*, in ``view/``) and what the state says needs nothing (seen
without a lock); any other is looked at under Claude Code's lock (``_cclock``):

* a change Claude Code made: recorded as an update of just those fields
  (``_native``) by ``claude-code`` or a hook's session, never reverted;
* a new ``<n>.json``: a create that keeps ``n`` as the task's number here;
* a file being written (empty, cut short): left for the next pass;

and only then writes what the state says, atomically. A single task file
gone is a delete. Every file gone at once is not: when every task was
completed it is Claude Code's panel resetting the list, and those tasks stay
out of the folder (hidden) until they change again -- no wipe/restore loop;
otherwise the folder was removed (``rm -rf``, a sweep) and is written again.

A pass costs one ``stat`` of the folder (and a look at each changed task's
file) when Claude Code wrote nothing since the last one (each of its writes
makes a lock folder in the folder: its mtime moves).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from ._baseline import Baselines
from ._carry import Carry
from ._cclock import Busy, LockDir, raise_highwatermark, restore_highwatermark
from ._datatype import datatype
from ._errors import StorageError
from ._fs import Dir, NotRegular
from ._ids import is_native_id, is_task_id
from ._layout import Layout
from ._model import Op
from ._native import (
    file_task,
    parse_file,
    plan_native_create,
    plan_native_delete,
    plan_native_update,
    render,
    valid_for_ledger,
)
from ._outcome import Outcome
from ._settled import scan, scan_stat
from ._state import State

#: records a change Claude Code made: (session, decide) -> the state after
Record = Callable[[str, Callable[[State, str], Op | None]], State]
NATIVE_SESSION = "claude-code"


@datatype(slots=False)
class View:
    """One list's Claude Code folder, kept in line with the ledger.

    Attributes:
        layout: where the list lives.
        current: the state with every log caught up.
        record: appends an op for a change Claude Code made (see ``Record``).
        machine: this machine's id (tasks Claude Code numbered here keep the number).
        warnings: where to report what could not be written.
        native_session: the session ops recorded from files carry.
        carry: a long-lived process's writes to ``view/`` not made yet (``_carry``).
    """

    layout: Layout
    current: Callable[[], State]
    record: Record
    machine: str
    warnings: list[str]
    native_session: str = NATIVE_SESSION
    carry: Carry | None = None

    # ------------------------------------------------------------- entry points

    def reconcile(self, forced: Iterable[str] = (), *, full: bool = False) -> Outcome:
        """Bring the folder in line: cheap when nothing changed (see the module).

        Args:
            forced: ids of tasks whose files must be looked at (they changed).
            full: compare every file (``taskledger materialize``).
        """
        out = Outcome()
        forced = set(forced)
        folder = self._folder(out)
        if folder is None:
            if not out.errors:
                self._missing_folder(out)
            return out
        with folder, Baselines(self.layout, self.carry) as marks:
            st = os.fstat(folder.fd)
            if not full and marks.quiet(st):  # Claude Code wrote nothing: just the changed
                rows = self.current().rows
                self._files(folder, marks, [i for i in forced if i in rows], out)
                return out
            started = time.time_ns()
            self._pass(folder, marks, forced, full, st, out)
            if out.errors:
                marks.unsettle()  # what could not be written is tried again next time
            else:
                marks.settle(folder, started)
        return out

    def sync(self, ids: Iterable[str], state: State | None = None, *, own: bool = True) -> Outcome:
        """Bring the files of just these tasks in line (``state``: the one a write left;
        ``own``: the tasks of that write, whose files are behind it).

        A quiet folder takes the stamp these writes left: a write of Claude Code's
        moves its mtime (a lock folder) well before it ends, so cannot fit between
        the two looks (were it to, the next change makes a reader scan).
        """
        out = Outcome()
        folder = self._folder(out)
        if folder is None:
            return out if out.errors else self.reconcile(ids)
        with folder, Baselines(self.layout, self.carry) as marks:
            self._files(folder, marks, ids, out, state, own)
        return out

    def _files(
        self, folder: Dir, marks: Baselines, ids: Iterable[str], out: Outcome,
        fresh: State | None = None, own: bool = True,
    ) -> None:  # fmt: skip
        """These tasks' files (``fresh``: the state right after this process's own write)."""
        quiet = marks.quiet(os.fstat(folder.fd))
        for task_id in sorted(ids):
            self._file(folder, marks, task_id, None, out, fresh, own)
        if out.errors:
            marks.unsettle()
        elif quiet:
            marks.restamp(os.fstat(folder.fd))

    def _folder(self, out: Outcome) -> Dir | None:
        """The folder, opened; None when it is missing, or refused (then said in ``out``)."""
        try:
            return self.layout.open_view()
        except StorageError as exc:
            out.errors.append(str(exc))
            return None

    # ------------------------------------------------------------------ passes

    def _missing_folder(self, out: Outcome) -> None:
        state = self.current()
        with Baselines(self.layout, self.carry) as marks:
            visible = [t for t in state.live() if not marks.hidden(t)]
            if not visible:
                return
            shown = [t for t in visible if marks.has_baseline(t.id)]
            if shown and all(t.status.value == "completed" for t in shown):
                for task in shown:
                    marks.hide(task)  # the list was reset or removed with everything done
                return
        try:
            folder = self.layout.open_view(create=True)
        except StorageError as exc:
            out.errors.append(str(exc))
            return
        assert folder is not None
        with folder, Baselines(self.layout, self.carry) as marks:
            self._restore_highwatermark(folder, state)
            for task in visible:
                marks.forget(task.id)  # the folder went, not the task: written again
                self._file(folder, marks, task.id, None, out)

    def _pass(
        self, folder: Dir, marks: Baselines, forced: set[str], full: bool, st: os.stat_result,
        out: Outcome,
    ) -> None:  # fmt: skip
        state = self.current()
        names = scan(folder)
        visible = {
            r.id: self._name(state, r.id)
            for r in state.live_rows()
            if not (f"{r.id}.hidden" in marks.names and marks.hidden(state.tasks[r.id]))
        }
        shown = [i for i in visible if marks.has_baseline(i)]
        missing = [i for i in shown if visible[i] not in names]
        if missing:
            replaced = marks.replaced(st)
            if all(state.rows[i].status == "completed" for i in shown):
                for task_id in missing:  # Claude Code's panel reset (or part of it)
                    marks.hide(state.tasks[task_id])
                    visible.pop(task_id)
            elif replaced or (len(missing) == len(shown) and len(shown) > 1):
                self._restore_highwatermark(folder, state)
                for task_id in missing:  # the folder was emptied: written again
                    marks.forget(task_id)
            else:
                forced.update(missing)  # each is looked at under its lock: a delete
        by_name = {n: i for i, n in visible.items()}
        todo: dict[str, str | None] = {}
        for name, stat in names.items():
            known = by_name.get(name) or self._known(state, name)
            if full or known in forced or marks.stat(name) != stat or known is None:
                todo[name] = known
        for task_id in forced:
            if task_id in state.rows:
                todo.setdefault(self._name(state, task_id), task_id)
        for task_id, name in visible.items():
            if name not in names and not marks.has_baseline(task_id):
                todo.setdefault(name, task_id)  # never written (or a write failed)
        for name, which in sorted(todo.items()):
            self._file(folder, marks, which, name, out)

    # --------------------------------------------------------------- one file

    def _file(
        self, folder: Dir, marks: Baselines, task_id: str | None, name: str | None, out: Outcome,
        fresh: State | None = None, own: bool = True,
    ) -> None:  # fmt: skip
        """One task file, under Claude Code's lock: record what changed, then write."""
        state = self.current() if fresh is None else fresh
        if name is None:
            assert task_id is not None
            name = self._name(state, task_id)
        lock = LockDir(folder, f"{name}.json")
        try:
            if self._current(folder, marks, state, task_id, name, again=fresh is None or not own):
                return
            with lock:
                self._locked(folder, marks, task_id, name, out)
        except Busy:
            self.warnings.append(f"task file {name}.json is locked by Claude Code; left for later")
            out.left.append(name)
            marks.unsettle(name)  # (the next pass looks at it)
        except NotRegular as exc:
            # a folder, a link or a FIFO where the file should be: nothing of ours is
            # there any more, so its absence later is no delete -- just write it then
            out.errors.append(f"cannot write task files in {folder.path}: {exc.strerror or exc}")
            if task_id is not None:
                marks.forget(task_id, name)
        except OSError as exc:
            # the file, if any, still holds what was written before: keep that baseline
            out.errors.append(f"cannot write task files in {folder.path}: {exc.strerror or exc}")
            marks.unsettle(name)

    def _current(
        self, folder: Dir, marks: Baselines, state: State, task_id: str | None, name: str,
        *, again: bool = True,
    ) -> bool:  # fmt: skip
        """Whether the file holds what the state says, unchanged by Claude Code.

        Seen without Claude Code's lock (its stat the same before and after the
        read): a file holding its baseline was changed by no one else; if it also
        renders the state (as another writer's file for its own op does), it
        needs nothing. Anything else is looked at under the lock.
        """
        if task_id is None or task_id not in state.tasks:
            return False
        before = folder.lstat(f"{name}.json")
        data = folder.read(f"{name}.json")
        if data is None or data != marks.baseline(task_id) or marks.hidden(state.tasks[task_id]):
            return False
        if _renders(state, task_id, name) != data:  # ahead of this state (another
            now = self.current() if again else state  # writer's), unless a write just made it
            if now is state or _renders(now, task_id, name) != data:
                return False
        st = folder.lstat(f"{name}.json")
        if st is None or before is None or scan_stat(st) != scan_stat(before):
            return False
        marks.confirm(task_id, name, st)
        return True

    def _locked(
        self, folder: Dir, marks: Baselines, task_id: str | None, name: str, out: Outcome
    ) -> None:
        state = self.current()  # caught up inside the lock: nothing older is ever written
        task_id = task_id or self._known(state, name)
        data = folder.read(f"{name}.json")
        base = None if task_id is None else marks.baseline(task_id)
        if data is not None and data != base:
            state, task_id = self._ingest(state, task_id, name, data, base, out)
            if task_id is None:
                if data is not None and is_task_id(name) and name not in state.rows:
                    folder.unlink(f"{name}.json")  # ours, of no task: a stray
                    out.removed.append(name)
                return
        elif data is None and base is not None and task_id is not None:
            task = state.tasks[task_id]
            if not task.deleted and not marks.hidden(task):
                state = self.record(
                    self._session(name), lambda s, _: plan_native_delete(s.tasks[task_id])
                )
                out.recorded.append(task_id)
        if task_id is None:
            return
        self._write(folder, marks, state, task_id, name, (data, base), out)

    def _ingest(
        self, state: State, task_id: str | None, name: str, data: bytes, base: bytes | None,
        out: Outcome,
    ) -> tuple[State, str | None]:  # fmt: skip
        """Record what Claude Code changed in a file; return the state and the task's id."""
        wanted = parse_file(data)
        if wanted is None:
            return state, task_id if base is not None or task_id is not None else None
        problem = valid_for_ledger(wanted)
        if problem is not None:
            self.warnings.append(f"task file {name}.json not recorded: {problem}")
            return state, task_id
        to_id: Callable[[str], str | None] = lambda ref: self._known(state, ref)  # noqa: E731
        if task_id is None or task_id not in state.rows:
            if not is_native_id(name) or wanted.id != name:
                return state, None
            session = self._session(name, creating=True)
            created: list[str] = []

            def create(now: State, new_id: str) -> Op:
                created.append(new_id)
                return plan_native_create(now, new_id, wanted, (self.machine, name), to_id)

            state = self.record(session, create)
            out.recorded.append(created[0])
            out.created.append(created[0])
            return state, created[0]
        session = self._session(name)
        task = state.tasks[task_id]
        seen = parse_file(base) if base is not None else None
        if seen is None:
            seen = file_task(task, name, lambda i: state.aliases.get(i, i))
            if wanted == seen:
                return state, task_id
        before = state

        def update(now: State, _: str) -> Op | None:
            return plan_native_update(now, now.tasks[task_id], seen, wanted, to_id, name)

        state = self.record(session, update)
        if state is not before:
            out.recorded.append(task_id)
        return state, task_id

    def _write(
        self, folder: Dir, marks: Baselines, state: State, task_id: str, name: str,
        found: tuple[bytes | None, bytes | None], out: Outcome,
    ) -> None:  # fmt: skip
        data, base = found  # (the file and its baseline, as read under the lock)
        task = state.tasks[task_id]
        if task.deleted or marks.hidden(task):
            if data is not None and folder.unlink(f"{name}.json"):
                out.removed.append(name)
                if name.isdigit():
                    raise_highwatermark(folder, int(name))
            marks.forget(task_id, name)
            return
        want = file_task(task, name, lambda i: state.aliases.get(i, i))
        have = None if data is None else parse_file(data)
        if have is not None and have == want and data is not None:
            marks.keep(task_id, name, data, folder.lstat(f"{name}.json"), base)
            return
        body = render(want)
        if data is None and folder.lstat(f"{name}.json") is not None:
            raise NotRegular(0, f"{folder.path / name}.json is not a regular file")
        st = folder.write_atomic(f"{name}.json", body)
        marks.keep(task_id, name, body, st, base)
        out.written.append(name)

    # ----------------------------------------------------------------- helpers

    def _name(self, state: State, task_id: str) -> str:
        return state.aliases.get(task_id, task_id)

    def _known(self, state: State, name: str) -> str | None:
        if name in state.rows:
            return name
        return state.by_alias(name) if name.isdigit() else None

    def _session(self, name: str, *, creating: bool = False) -> str:
        """The session a hook said is writing this file, else the native session."""
        return Baselines.hint(self.layout, name, creating=creating) or self.native_session

    def _restore_highwatermark(self, folder: Dir, state: State) -> None:
        if not restore_highwatermark(folder, state.aliases.values()):
            self.warnings.append("could not raise .highwatermark; left for later")


def _renders(state: State, task_id: str, name: str) -> bytes | None:
    """The bytes the task's file holds in this state (None: it has none)."""
    task = state.tasks.get(task_id)
    if task is None or task.deleted:
        return None
    return render(file_task(task, name, lambda i: state.aliases.get(i, i)))
