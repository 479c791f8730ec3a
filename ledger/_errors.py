"""Errors raised by the ledger library.

Every error the library raises on purpose derives from one root, so callers
(the CLI, the MCP server, the board, tests) catch ``LedgerError`` and map
each class to one exit code or tool error::

    LedgerError                 anything the user can fix or must know about
    ├── InvalidValue            a name, field or value the ledger refuses
    ├── NotFound                no task matches the given id or prefix
    ├── Ambiguous               an id prefix matches more than one task
    ├── TaskDeleted             the task exists but is a tombstone
    ├── DependencyError         a dependency that points at nothing or closes a cycle
    ├── Blocked                 the task has incomplete blockers
    ├── Contention              another session holds what was asked for (exit 3)
    │   ├── ClaimHeld           the task is claimed under a live lease
    │   └── NothingReady        ``ready --claim`` found nothing claimable
    ├── StorageError            the file system refused a read or a write
    ├── SyncError               a sync remote could not be reached or refused
    └── CorruptLedger           ``verify`` found damage (carries the report)

    Internal (caught inside the library, never leave it):
    BadRecord(ValueError)       a log line that is not a usable record
    └── UnknownVersion          a record of a format version this code does not know
    RejectedUpdate(ValueError)  pycrdt refused an update
    CacheBroken(Exception)      a derived cache file is unusable: rebuild from the logs

OS, pycrdt and JSON exceptions are translated where they cross into the
library; nothing else is meant to escape it.
"""

from __future__ import annotations

_SHOWN = 20  # candidates an ambiguous prefix names


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""


class InvalidValue(LedgerError):
    """A name, field or value that the ledger refuses to store."""


class NotFound(LedgerError):
    """No task matches the given id or prefix."""


class Ambiguous(LedgerError):
    """An id prefix matches more than one task."""

    def __init__(self, prefix: str, candidates: tuple[str, ...]) -> None:
        self.prefix = prefix
        self.candidates = candidates
        shown = ", ".join(candidates[:_SHOWN])
        more = f" and {len(candidates) - _SHOWN} more" if len(candidates) > _SHOWN else ""
        super().__init__(f"id prefix {prefix!r} is ambiguous: it matches {shown}{more}")


class TaskDeleted(LedgerError):
    """The task exists only as a tombstone."""


class DependencyError(LedgerError):
    """A dependency edge that points at a missing task or would close a cycle."""


class Blocked(LedgerError):
    """The task has blockers that are not completed."""


class Contention(LedgerError):
    """Another session holds what was asked for (exit code 3)."""


class ClaimHeld(Contention):
    """The task is claimed by another session under a live lease."""


class NothingReady(Contention):
    """No task is ready to be claimed."""


class StorageError(LedgerError):
    """The file system refused a read or write the ledger needs."""


class SyncError(LedgerError):
    """A sync remote could not be reached, or refused what was sent."""


class CorruptLedger(LedgerError):
    """The logs failed verification."""


class BadRecord(ValueError):
    """A log line that is not a usable record (internal: readers turn it into a warning)."""


class UnknownVersion(BadRecord):
    """A record of a format version this code does not know (internal)."""


class RejectedUpdate(ValueError):
    """pycrdt refused an update (internal: the replayer turns it into a warning)."""


class CacheBroken(Exception):
    """A derived cache file is missing, unreadable or rejected (internal: rebuild)."""
