"""The server's memo of ``list`` lines: a table of 100k rows built once, then reused row by row.

A command in its own process formats every row each time (``_query._table``,
column by column). The server (``cli._server``) runs ``list`` again and again
on states that share almost every ``Row`` object with the one before (a
long-lived replayer replaces only the rows an op changed), so it keeps, per
row object, the row's cells and its formatted line: a warm ``list`` at 100k
tasks then costs a dictionary lookup per row instead of the formatting
(docs/performance.md). The output is the same, byte for byte
(``tests/test_server.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import eq, is_, itemgetter
from typing import TYPE_CHECKING

from ._output import row_pattern

if TYPE_CHECKING:
    from ledger import Row

#: (the row, its cells, the pattern and width its line was made for, the line)
_Entry = list[object]
_ROW, _CELLS, _KEY, _LINE = map(itemgetter, range(4))


class LineMemo:
    """Cells and lines of the rows of the last tables, by row object."""

    def __init__(self) -> None:
        self._rows: dict[int, _Entry] = {}

    def table(
        self,
        headers: tuple[str, ...],
        rows: Sequence[Row],
        marked: Mapping[int, str],
        cells_of: Callable[[Row], tuple[str, ...]],
        width: int | None,
    ) -> str:
        """``_output.table`` of the rows' cells; ``marked``: subjects that replace the
        plain one (by position: a deleted, blocked or leased row, never memoized)."""
        memo = self._rows
        entries: list[_Entry | None] = list(map(memo.get, map(id, rows)))
        if None in entries or not all(map(is_, map(_ROW, entries), rows)):  # type: ignore[arg-type]
            for i, row in enumerate(rows):
                entry = entries[i]
                if entry is None or entry[0] is not row:
                    entries[i] = memo[id(row)] = [row, cells_of(row), None, ""]
        for i, subject in marked.items():  # (never memoized)
            row = rows[i]
            entries[i] = [row, (*cells_of(row)[:-1], subject), None, ""]
        pattern = row_pattern([headers, *map(_CELLS, entries)])  # type: ignore[arg-type]
        key = (pattern, width)
        if not all(map(eq, map(_KEY, entries), repeat(key))):  # type: ignore[arg-type]
            for entry in entries:
                assert entry is not None
                if entry[2] != key:
                    entry[2], entry[3] = key, _line(pattern, entry[1], width)  # type: ignore[arg-type]
        lines = [_line(pattern, headers, width), *map(_LINE, entries)]  # type: ignore[arg-type]
        if len(memo) > 2 * len(rows) + 1024:  # (rows of old states: let them go)
            self._rows = {id(e[0]): e for e in entries if e is not None}
        return "\n".join(lines)


def _line(pattern: str, cells: tuple[str, ...], width: int | None) -> str:
    line = (pattern % cells).rstrip()
    return line if width is None or len(line) <= width else line[: width - 1] + "…"
