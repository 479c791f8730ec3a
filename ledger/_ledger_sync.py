"""The service's replica side: receiving records, sending them, syncing over git.

A mixin of ``Ledger`` (``_ledger``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._errors import SyncError

if TYPE_CHECKING:
    from ._gitsync import Synced
    from ._layout import Layout
    from ._write import Writer


class Replication:
    """Exchanging records with other replicas of the same list."""

    layout: Layout
    session: str
    warnings: list[str]

    def _construct_writer(self, session: str) -> Writer:
        raise NotImplementedError

    def _adopt(self) -> None:
        raise NotImplementedError

    def receive(self, lines: Iterable[bytes]) -> object:
        """File record lines from another replica into this one (any subset, any order).

        Raises:
            StorageError: when the logs cannot be written.
        """
        from ._sync import receive

        own = self._construct_writer(self.session).writer_id()
        return receive(self.layout, lines, own_writer=own)

    def sync(self, remote: str | None = None) -> Synced:
        """Exchange this list's logs with a git remote (``_gitsync``); the remote is
        remembered for the next sync without one.

        Raises:
            SyncError: when no remote is known, or it cannot be reached or refuses.
        """
        from ._gitsync import GitSync
        from ._machines import last_remote

        self._adopt()
        chosen = remote or last_remote(self.layout)
        if chosen is None:
            raise SyncError("no remote to sync with: taskledger sync REMOTE (a git URL or path)")
        synced = GitSync(self.layout, chosen).run()
        self.warnings.extend(synced.problems)
        return synced

    def outgoing(self) -> list[bytes]:
        """Every record line this replica holds (what it can send to another)."""
        from ._sync import outgoing

        return list(outgoing(self.layout))
