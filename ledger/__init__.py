"""taskledger's library: a lossless, lock-free shared task list.

Each session appends operations to its own log; every reader merges all logs
through pycrdt into the same state, materialized as Claude Code task files.

Names are loaded on first use, so a command pays only for what it touches:
one answered from the fresh derived cache never imports pycrdt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._audit import SessionInfo as SessionInfo
    from ._errors import Ambiguous as Ambiguous
    from ._errors import Blocked as Blocked
    from ._errors import ClaimHeld as ClaimHeld
    from ._errors import Contention as Contention
    from ._errors import CorruptLedger as CorruptLedger
    from ._errors import DependencyError as DependencyError
    from ._errors import InvalidValue as InvalidValue
    from ._errors import LedgerError as LedgerError
    from ._errors import NotFound as NotFound
    from ._errors import NothingReady as NothingReady
    from ._errors import StorageError as StorageError
    from ._errors import TaskDeleted as TaskDeleted
    from ._log import Record as Record
    from ._model import Change as Change
    from ._model import Hlc as Hlc
    from ._model import Json as Json
    from ._model import Lease as Lease
    from ._model import Note as Note
    from ._model import Op as Op
    from ._model import OpKind as OpKind
    from ._model import Stamp as Stamp
    from ._model import Status as Status
    from ._model import Task as Task
    from ._paths import LIST_PATTERN as LIST_PATTERN
    from ._paths import SESSION_PATTERN as SESSION_PATTERN
    from ._paths import Layout as Layout
    from ._paths import check_list_id as check_list_id
    from ._paths import check_session as check_session
    from ._plan import Edits as Edits
    from ._state import Row as Row
    from ._state import State as State
    from ._store import DEFAULT_LEASE_S as DEFAULT_LEASE_S
    from ._store import Ledger as Ledger

__version__ = "0.1.0"

_EXPORTS = {
    "SessionInfo": "_audit",
    "DEFAULT_LEASE_S": "_store",
    "Ambiguous": "_errors",
    "Blocked": "_errors",
    "ClaimHeld": "_errors",
    "Contention": "_errors",
    "CorruptLedger": "_errors",
    "DependencyError": "_errors",
    "InvalidValue": "_errors",
    "LedgerError": "_errors",
    "NotFound": "_errors",
    "NothingReady": "_errors",
    "StorageError": "_errors",
    "TaskDeleted": "_errors",
    "Record": "_log",
    "Change": "_model",
    "Hlc": "_model",
    "Json": "_model",
    "Lease": "_model",
    "Note": "_model",
    "Op": "_model",
    "OpKind": "_model",
    "Stamp": "_model",
    "Status": "_model",
    "Task": "_model",
    "LIST_PATTERN": "_paths",
    "SESSION_PATTERN": "_paths",
    "Layout": "_paths",
    "check_list_id": "_paths",
    "check_session": "_paths",
    "Edits": "_plan",
    "Row": "_state",
    "State": "_state",
    "Ledger": "_store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ledger.{module}"), name)
    globals()[name] = value
    return value
