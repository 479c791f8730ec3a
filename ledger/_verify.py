"""``verify``: check every log for damage and tampering.

Per log: each line is a well-formed record of a known version; the hash chain
links each record to the previous one; sequence numbers run 1, 2, 3...; HLCs
only grow; the session and writer inside match the file name; the update is
base64. Across logs: no writer id appears in two files, no writer's sequence
has a gap, and a replay of every record in causal (HLC) order integrates
every update -- and each update does exactly what its readable fields say:
it sets the entries they name, to the values they name, stamped with the
record's own session, seq and HLC, and nothing else. A torn last line -- or
a torn line that the next append terminated -- is what a crash leaves
behind, and is reported as a warning, not as tampering.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._audit import Located
from ._cache import Head
from ._errors import StorageError
from ._log import GENESIS, TORN_MARK, BadRecord, Cursor, Record, digest, parse_record
from ._model import Hlc, Json, Op, OpKind
from ._paths import parse_log_name, scan_logs
from ._schema import DESCRIPTION, NOTES, parse_entry, parse_note

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One finding of ``verify``.

    Attributes:
        file: the log file name ("" for the ledger as a whole).
        line: 1-based line number, 0 when it concerns the whole file.
        severity: ``error`` (damage or tampering) or ``warning``.
        message: what is wrong.
    """

    file: str
    line: int
    severity: str
    message: str

    def __str__(self) -> str:
        where = self.file or "ledger"
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(slots=True)
class Report:
    """Everything ``verify`` found.

    Attributes:
        files: number of log files checked.
        records: number of well-formed records.
        problems: findings, sorted by file and line.
    """

    files: int = 0
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(p.severity == ERROR for p in self.problems)


def _check_file(
    logs: Path,
    name: str,
    report: Report,
    writers: dict[str, list[str]],
    found: list[Located],
) -> None:
    parsed = parse_log_name(name)
    if parsed is None:
        report.problems.append(Problem(name, 0, WARNING, "not a log file name; ignored"))
        return
    session, writer = parsed
    writers.setdefault(writer, []).append(name)
    report.files += 1
    prev_digest = GENESIS
    prev_seq = 0
    prev_line = 0
    prev_hlc = Hlc(-1, 0)
    cursor = Cursor()

    def problem(line: int, message: str, severity: str = ERROR) -> None:
        report.problems.append(Problem(name, line, severity, message))

    for line in cursor.read(logs / name):
        if line.data.endswith(TORN_MARK[:-1]):
            problem(line.number, "torn write left by a crashed writer (terminated)", WARNING)
            continue
        try:
            record = parse_record(line.data)
        except BadRecord as exc:
            problem(line.number, f"undecodable record: {exc}")
            continue
        report.records += 1
        found.append(Located(record, name, line.number))
        if record.prev != prev_digest:
            after = f"line {prev_line}" if prev_line else "the start of the log"
            problem(line.number, f"hash chain broken: prev does not match {after}")
        if record.seq != prev_seq + 1:
            problem(line.number, f"seq {record.seq} follows seq {prev_seq}")
        if record.hlc <= prev_hlc:
            problem(line.number, "HLC does not advance over the previous record")
        if record.session != session or record.writer != writer:
            problem(
                line.number,
                f"record claims session {record.session!r} writer {record.writer}, "
                f"but the file belongs to session {session!r} writer {writer}",
            )
        try:
            for data in record.updates.values():
                base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            problem(line.number, "update is not base64")
        prev_digest = digest(line.data)
        prev_seq = record.seq
        prev_line = line.number
        prev_hlc = record.hlc
    if cursor.tail:
        problem(cursor.line, "torn last line (a writer died mid-append)", WARNING)


def _expected_keys(record: Record, op: Op) -> dict[str, dict[str, Json]]:
    """Per task, the entry keys the record's update must set, with their values."""
    w = record.writer
    main: dict[str, Json] = {f"u:{w}": None}
    if op.kind is OpKind.CREATE:
        main[f"c:{w}"] = None
    for name, change in op.fields:
        main[f"f:{name}:{w}"] = change.new
    for key, change in op.metadata:
        main[f"m:{key}:{w}"] = change.new
    for blocker, change in op.blocked_by:
        main[f"b:{blocker}:{w}"] = change.new
    out = {record.task: main}
    for blocked, change in op.blocks:
        out.setdefault(blocked, {f"u:{w}": None})[f"b:{record.task}:{w}"] = change.new
    return out


def _mismatches(
    record: Record, op: Op, before: dict[str, Json], after: dict[str, Json]
) -> list[str]:
    """How the update's effect on the documents differs from the fields it claims."""
    problems = []
    for task, expected in _expected_keys(record, op).items():
        old, new = before.get(task), after.get(task)
        if not isinstance(new, dict):
            problems.append(f"task {task} does not exist after the update")
            continue
        old = old if isinstance(old, dict) else {}
        changed = {k for k in new if new[k] != old.get(k)} | (set(old) - set(new))
        for key, value in expected.items():
            parsed = parse_entry(new.get(key), record.writer)
            if key not in changed or parsed is None:
                problems.append(f"{key} was not written")
                continue
            got, stamp = parsed
            if got != value or (stamp.session, stamp.seq, stamp.hlc) != (
                record.session,
                record.seq,
                record.hlc,
            ):
                problems.append(f"{key} holds {got!r} by {stamp.ref}, the fields claim {value!r}")
        extra = changed - set(expected) - {DESCRIPTION, NOTES}
        if extra:
            problems.append("it also changes " + ", ".join(sorted(extra)))
        if task != record.task:
            continue
        if op.kind is OpKind.CREATE:
            claimed = "" if op.description is None else op.description.new
            if new.get(DESCRIPTION) != claimed:
                problems.append("the description differs from the one it claims")
        elif DESCRIPTION in changed and op.description is None:
            problems.append("it changes the description without saying so")
        old_notes = old.get(NOTES)
        new_notes = new.get(NOTES)
        old_list = old_notes if isinstance(old_notes, list) else []
        added = [n for n in new_notes if n not in old_list] if isinstance(new_notes, list) else []
        texts = [p[0] for p in (parse_note(n) for n in added) if p is not None]
        if texts != ([op.note] if op.note is not None else []):
            problems.append(f"it adds notes {texts!r}, the fields claim {op.note!r}")
    return problems


def _replay_check(found: list[Located], report: Report) -> None:
    """Apply every record in causal (HLC) order and check what each update does."""
    from ._crdt import RejectedUpdate, Replica

    replica = Replica()
    declared: dict[str, dict[int, int]] = {}
    done: set[tuple[str, int]] = set()

    def problem(item: Located, message: str) -> None:
        report.problems.append(Problem(item.file, item.line, ERROR, message))

    for item in sorted(found, key=lambda f: f.record.key):
        record = item.record
        if (record.writer, record.seq) in done:
            continue
        done.add((record.writer, record.seq))
        try:
            op: Op | None = Op.from_readable(record.kind, record.task, record.fields)
        except ValueError as exc:
            problem(item, f"fields are malformed: {exc}")
            op = None
        touched = {record.task} if op is None else set(_expected_keys(record, op))
        before = {t: replica.task_json(t) for t in touched}
        client = int(record.writer, 16)
        for shard, data in record.updates.items():
            try:
                replica.apply(shard, base64.b64decode(data, validate=True))
            except (binascii.Error, ValueError):
                continue  # reported by the file check
            except RejectedUpdate as exc:
                problem(item, str(exc))
                continue
            declared.setdefault(shard, {})[client] = max(
                record.clocks[shard], declared.get(shard, {}).get(client, 0)
            )
        if op is not None:
            after = {t: replica.task_json(t) for t in touched}
            for message in _mismatches(record, op, before, after):
                problem(item, f"update does not match its fields: {message}")
    for shard, clients in sorted(declared.items()):
        state = replica.state(shard)
        for client, clock in sorted(clients.items()):
            if state.get(client, 0) < clock:
                report.problems.append(
                    Problem(
                        "",
                        0,
                        ERROR,
                        f"shard {shard}: writer {client:013x} reaches clock "
                        f"{state.get(client, 0)} of the {clock} its records declare",
                    )
                )


def _gaps(found: list[Located], report: Report) -> None:
    by_writer: dict[str, set[int]] = {}
    for item in found:
        by_writer.setdefault(item.record.writer, set()).add(item.record.seq)
    for writer, seqs in sorted(by_writer.items()):
        missing = sorted(set(range(1, max(seqs) + 1)) - seqs)
        if missing:
            later = sum(1 for s in seqs if s > missing[0])
            report.problems.append(
                Problem(
                    "",
                    0,
                    ERROR,
                    f"writer {writer}: seq {missing[0]} is missing; {later} later record(s) "
                    "cannot be applied",
                )
            )


def verify(logs: Path, head: Head | None = None) -> Report:
    """Check every log in a folder.

    Args:
        logs: the ``.ledger/logs`` folder.
        head: the derived cache's head, if any: a log that shrank or was
            replaced under the offsets it covers was changed in place (logs
            only ever grow), which is reported.

    Returns:
        The report; ``report.ok`` is False when any error was found.
    """
    report = Report()
    try:
        names = sorted(e.name for e in os.scandir(logs) if e.is_file())
    except FileNotFoundError:
        return report
    except OSError as exc:
        raise StorageError(f"cannot list the logs in {logs}: {exc.strerror}") from exc
    writers: dict[str, list[str]] = {}
    found: list[Located] = []
    for name in names:
        _check_file(logs, name, report, writers, found)
    for writer, files in sorted(writers.items()):
        if len(files) > 1:
            for name in files:
                others = ", ".join(f for f in files if f != name)
                report.problems.append(
                    Problem(name, 0, ERROR, f"writer {writer} is also used by {others}")
                )
    _gaps(found, report)
    _replay_check(found, report)
    if head is not None:
        stats = scan_logs(logs)
        for name in head.broken_logs(logs, stats):
            if name in stats:
                report.problems.append(
                    Problem(
                        name,
                        0,
                        ERROR,
                        "changed since the cache read it: its first "
                        f"{head.logs[name][3]} bytes are not what they were (logs only grow)",
                    )
                )
    report.problems.sort()
    return report
