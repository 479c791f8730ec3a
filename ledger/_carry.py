"""What a long-lived process's passes over Claude Code's folder have not written yet.

A command writes ``view/``'s stats and the folder's stamp at the end of each
pass; a long-lived process (the MCP server, a library user) writes them at
most once a second (``FLUSH_S``) and keeps them here meanwhile, so that an op
costs the task file and its baseline, not two more files. Nothing here is
needed for correctness: lost (the process dies), the next pass of anyone
finds the folder's stamp behind and compares the files.
"""

from __future__ import annotations

import time

from ._datatype import datatype, field

FLUSH_S = 1.0  # a long-lived process writes what it carries at most this often

#: the folder's stamp: (the folder's [inode, mtime], when the pass was, pending, grain)
Stamp = tuple[list[int] | None, int, bool, int | None]


@datatype(slots=False)
class Carry:
    """The stats (per stats shard, by file name; None: removed) and the stamp not
    written yet, and since when (monotonic seconds); ``seen``: the folder's stamp
    on disk as the first pass carried read it.

    A pending stamp on disk other than ``seen`` (another process's pass that
    left work undone since: a write that failed, which removes its file's stat)
    drops them all: one may vouch for a file now behind the ledger (``Baselines``).
    """

    stamp: Stamp | None = None
    stats: dict[str, dict[str, list[int | str] | None]] = field(default_factory=dict)
    since: float = 0.0
    seen: object = None

    def __bool__(self) -> bool:
        return self.stamp is not None or bool(self.stats)

    def due(self) -> bool:
        """Whether what is carried should be written now."""
        return bool(self) and time.monotonic() - self.since >= FLUSH_S

    def take(
        self, stats: dict[str, dict[str, list[int | str] | None]], stamp: Stamp | None,
        seen: object,
    ) -> None:  # fmt: skip
        """Carry a pass's changed stats (by shard) and its stamp (None: unchanged);
        ``seen``: the folder's stamp as that pass read it."""
        if not (stats or stamp is not None):
            return
        if not self:
            self.since, self.seen = time.monotonic(), seen
        for shard, changed in stats.items():
            self.stats.setdefault(shard, {}).update(changed)
        if stamp is not None:
            self.stamp = stamp

    def clear(self) -> None:
        self.stamp = None
        self.stats = {}
