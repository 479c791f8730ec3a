"""``verify``: check every log for damage and tampering.

Per log, reading each line the way every reader does (``_log.classify``):
each line is a well-formed record of a known version; the hash chain links
each record to the previous one; sequence numbers run 1, 2, 3...; HLCs only
grow; the session and writer inside match the file name. Across logs: no
writer id appears in two files and no writer's sequence has a gap. Then the
replayer reads everything once more and, for every record it accepts,
applies its updates on their own and checks that each does exactly what its
readable fields say: it sets the entries they name, to the values they
name, stamped with the record's own session, seq and HLC, and nothing else;
and that every shard integrates every update its records declare. A torn
last line -- or a torn line that the next append terminated -- is what a
crash leaves behind, and is reported as a warning, not as tampering.
"""

from __future__ import annotations

from . import _json
from ._datatype import datatype, field
from ._entries import DESCRIPTION, NOTES
from ._errors import StorageError
from ._fold import parse_entry, parse_note
from ._ids import parse_log_name, shard_of
from ._layout import Layout, scan_logs
from ._log import GENESIS, Cursor, LogWarning, Record, classify, digest
from ._model import Hlc, Json, Op, OpKind
from ._replay import MAX_AHEAD_MS, Replayer

ERROR = "error"
WARNING = "warning"


@datatype(frozen=True, order=True)
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


@datatype
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

    def add(self, file: str, line: int, message: str, severity: str = ERROR) -> None:
        """Record one finding."""
        self.problems.append(Problem(file, line, severity, message))


def _check_file(layout: Layout, name: str, report: Report, writers: dict[str, list[str]]) -> None:
    session, writer = parse_log_name(name) or ("", "")
    writers.setdefault(writer, []).append(name)
    report.files += 1
    prev = (GENESIS, 0, 0, Hlc(-1, 0))  # digest, seq, line, hlc of the last record
    cursor = Cursor()
    folder = layout.open("logs")
    if folder is None:
        return
    with folder:
        for line in cursor.read(folder, name):
            item = classify(name, line)
            if type(item) is LogWarning:
                if item.kind == "torn":
                    report.add(
                        name,
                        line.number,
                        "torn write left by a crashed writer (terminated)",
                        WARNING,
                    )
                else:
                    report.add(
                        name,
                        line.number,
                        f"undecodable record: {item.problem[: -len(', skipped')]}",
                    )
                continue
            record: Record = item  # type: ignore[assignment]
            report.records += 1
            _check_record(name, line.number, record, prev, session, writer, report)
            prev = (digest(line.data), record.seq, line.number, record.hlc)
    if cursor.tail:
        report.add(name, cursor.line, "torn last line (a writer died mid-append)", WARNING)


def _check_record(
    name: str,
    number: int,
    record: Record,
    prev: tuple[str, int, int, Hlc],
    session: str,
    writer: str,
    report: Report,
) -> None:
    last_digest, last_seq, last_line, last_hlc = prev
    if record.prev != last_digest:
        after = f"line {last_line}" if last_line else "the start of the log"
        report.add(name, number, f"hash chain broken: prev does not match {after}")
    if record.seq != last_seq + 1:
        report.add(name, number, f"seq {record.seq} follows seq {last_seq}")
    if record.hlc <= last_hlc:
        report.add(name, number, "HLC does not advance over the previous record")
    if record.session != session or record.writer != writer:
        report.add(
            name,
            number,
            f"record claims session {record.session!r} writer {record.writer}, "
            f"but the file belongs to session {session!r} writer {writer}",
        )


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
            if (stamp.session, stamp.seq, stamp.hlc) != (record.session, record.seq, record.hlc):
                problems.append(f"{key} is stamped {stamp.ref}, not by this record")
            elif got != value or type(got) is not type(value):
                problems.append(f"{key} {_differ(got, value)}")
        extra = changed - set(expected) - {DESCRIPTION, NOTES}
        if extra:
            problems.append("it also changes " + ", ".join(sorted(extra)))
        if task == record.task:
            problems += _text_mismatches(op, old, new, changed)
    return problems


def _differ(got: Json, claimed: Json, width: int = 40) -> str:
    """Say how a value differs from the one claimed, showing where (values can be long)."""
    shown, said = _json.dumps(got), _json.dumps(claimed)
    if shown == said:
        return f"holds {shown} as {type(got).__name__}, the fields claim {type(claimed).__name__}"
    if len(shown) <= width and len(said) <= width:
        return f"holds {shown}, the fields claim {said}"
    at = next(
        (i for i, (x, y) in enumerate(zip(shown, said, strict=False)) if x != y),
        min(len(shown), len(said)),
    )
    start = max(at - width // 4, 0)

    def window(text: str) -> str:
        part = text[start : start + width]
        return ("…" if start else "") + part + ("…" if start + width < len(text) else "")

    return (
        f"holds {window(shown)}, the fields claim {window(said)} "
        f"(they differ from character {at + 1} of {len(shown)} and {len(said)})"
    )


def _text_mismatches(
    op: Op, old: dict[str, Json], new: dict[str, Json], changed: set[str]
) -> list[str]:
    problems = []
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


class _Inspector:
    """Collects every record the replayer accepts, then applies each on its own,
    in causal (HLC) order -- so what a record's update builds on is there --
    and checks what its update did."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.replayer: Replayer | None = None
        self.accepted: list[tuple[Record, str, int, dict[str, bytes]]] = []

    def __call__(self, record: Record, name: str, number: int, updates: dict[str, bytes]) -> None:
        self.accepted.append((record, name, number, updates))

    def check_all(self) -> None:
        """Apply and check every accepted record, oldest HLC first."""
        for record, name, number, updates in sorted(self.accepted, key=lambda a: a[0].key):
            self._check(record, name, number, updates)

    def _check(self, record: Record, name: str, number: int, updates: dict[str, bytes]) -> None:
        replayer = self.replayer
        assert replayer is not None
        try:
            op: Op | None = Op.from_readable(record.kind, record.task, record.fields)
        except ValueError as exc:
            self.report.add(name, number, f"fields are malformed: {exc}")
            op = None
        touched = {record.task} if op is None else set(_expected_keys(record, op))
        shards = replayer.shards
        before: dict[str, Json] = {t: shards.doc(shard_of(t)).task(t) for t in touched}
        shards.queue(record, updates, name, number)
        for shard in updates:
            shards.settle(shard)
        if op is None or record.ref in shards.rejected:
            return
        after: dict[str, Json] = {t: shards.doc(shard_of(t)).task(t) for t in touched}
        for message in _mismatches(record, op, before, after):
            self.report.add(name, number, f"update does not match its fields: {message}")


def verify(layout: Layout, broken: list[str] | None = None, now_ms: int | None = None) -> Report:
    """Check every log of a list.

    Args:
        layout: the list.
        broken: logs the derived cache found changed under it (logs only grow).
        now_ms: the wall clock, to flag records stamped far in the future.

    Returns:
        The report; ``report.ok`` is False when any error was found.
    """
    report = Report()
    folder = layout.open("logs")
    if folder is None:
        return report
    with folder:
        try:
            names = sorted(scan_logs(folder))
        except StorageError:
            raise
    writers: dict[str, list[str]] = {}
    for name in names:
        _check_file(layout, name, report, writers)
    for writer, files in sorted(writers.items()):
        for name in files if len(files) > 1 else ():
            others = ", ".join(f for f in files if f != name)
            report.add(name, 0, f"writer {writer} is also used by {others}")
    inspector = _Inspector(report)
    replayer = Replayer(layout.logs, trusted=layout.data, inspect=inspector)
    inspector.replayer = replayer
    replayer.catch_up()
    inspector.check_all()
    _replay_findings(report, replayer, now_ms)
    for name in broken or ():
        report.add(
            name,
            0,
            "changed since the cache read it: the bytes it had read are not what they "
            "were (logs only grow)",
        )
    report.problems.sort()
    return report


def _replay_findings(report: Report, replayer: Replayer, now_ms: int | None) -> None:
    """What the replay found: refused updates, clock shortfalls, gaps, clocks far ahead."""
    for warning in replayer.take_warnings():
        if warning.kind == "update":
            report.add(warning.file, warning.line, warning.problem.removesuffix(", skipped"))
        elif warning.kind == "clock":
            report.add("", 0, warning.problem)
    for writer, missing, held in replayer.held_back():
        report.add(
            "",
            0,
            f"writer {writer}: seq {missing} is missing; {held} later record(s) cannot be applied",
        )
    if now_ms is not None:
        for writer, hlc in sorted(replayer.last_hlc.items()):
            if hlc.ms > now_ms + MAX_AHEAD_MS:
                report.add(
                    "",
                    0,
                    f"writer {writer} is stamped {(hlc.ms - now_ms) // 60_000} minutes ahead "
                    "of this clock (its ops do not move other writers' clocks)",
                    WARNING,
                )


def changed_logs(layout: Layout) -> list[str]:
    """Logs the snapshot read that are not what it read any more (logs only grow)."""
    from ._replay import log_changed
    from ._snapshot import Snapshot

    cache = layout.open("cache")
    if cache is None:
        return []
    with cache:
        head = Snapshot(cache).read_head()
    folder = layout.open("logs")
    if head is None or folder is None:
        return []
    with folder:
        stats = scan_logs(folder)
        changed = (n for n in head.logs if n in stats)
        return [n for n in changed if log_changed(folder, n, head.logs[n], stats[n])]
