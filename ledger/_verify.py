"""``verify``: check every log for damage and tampering.

Per log: each line is a well-formed record of a known version; the hash chain
links each record to the previous one; sequence numbers run 1, 2, 3...; HLCs
only grow; the session and writer inside match the file name; the update is
base64. Across logs: no writer id appears in two files, and a full replay
integrates every update. A torn last line -- or a torn line that the next
append terminated -- is what a crash leaves behind, and is reported as a
warning, not as tampering.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import StorageError
from ._log import GENESIS, TORN_MARK, BadRecord, Cursor, digest, parse_record
from ._model import Hlc
from ._paths import parse_log_name

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


def _check_file(logs: Path, name: str, report: Report, writers: dict[str, list[str]]) -> None:
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


def verify(logs: Path) -> Report:
    """Check every log in a folder.

    Args:
        logs: the ``.ledger/logs`` folder.

    Returns:
        The report; ``report.ok`` is False when any error was found.
    """
    from ._replay import Replayer

    report = Report()
    try:
        names = sorted(e.name for e in os.scandir(logs) if e.is_file())
    except FileNotFoundError:
        return report
    except OSError as exc:
        raise StorageError(f"cannot list the logs in {logs}: {exc.strerror}") from exc
    writers: dict[str, list[str]] = {}
    for name in names:
        _check_file(logs, name, report, writers)
    for writer, files in sorted(writers.items()):
        if len(files) > 1:
            for name in files:
                others = ", ".join(f for f in files if f != name)
                report.problems.append(
                    Problem(name, 0, ERROR, f"writer {writer} is also used by {others}")
                )
    replayer = Replayer(logs)
    replayer.catch_up()
    for warning in replayer.warnings:
        if warning.kind in ("update", "clock"):
            report.problems.append(Problem(warning.file, warning.line, ERROR, warning.problem))
    for writer, missing, held in replayer.held_back():
        report.problems.append(
            Problem(
                "",
                0,
                ERROR,
                f"writer {writer}: seq {missing} is missing; {held} later "
                "record(s) cannot be applied",
            )
        )
    report.problems.sort()
    return report
