"""The audit trail: every record of every log, in causal (HLC) order.

Reading the trail needs no pycrdt: the records' readable fields say what
each op changed, old -> new as its writer saw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ._log import BadRecord, Cursor, LogWarning, Record, parse_record, scan_logs


@dataclass(frozen=True, slots=True)
class Located:
    """A record and where it was read.

    Attributes:
        record: the parsed record.
        file: the log file name.
        line: its 1-based line number.
    """

    record: Record
    file: str
    line: int


def read_all(logs_dir: Path, warnings: list[LogWarning]) -> Iterator[Located]:
    """Every well-formed record of every log, file by file, in file order.

    Bad lines are skipped with a warning appended to ``warnings``.
    """
    for name in sorted(scan_logs(logs_dir)):
        cursor = Cursor()
        for line in cursor.read(logs_dir / name):
            try:
                yield Located(parse_record(line.data), name, line.number)
            except BadRecord as exc:
                warnings.append(LogWarning(name, line.number, f"{exc}, skipped"))
        if cursor.tail:
            warnings.append(
                LogWarning(name, cursor.line, "torn last line (a writer died mid-append), skipped")
            )


def trail(records: Iterable[Located]) -> list[Record]:
    """Records in HLC order, each op once (copies of a log count once)."""
    seen: dict[tuple[str, int], Record] = {}
    for item in records:
        seen.setdefault((item.record.writer, item.record.seq), item.record)
    return sorted(seen.values(), key=lambda r: r.key)
