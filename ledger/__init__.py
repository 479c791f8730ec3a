"""taskledger's library: a lossless, lock-free shared task list.

Each session appends operations to its own log; every reader merges all logs
through pycrdt into the same state, materialized as Claude Code task files.
Importing this package does not import pycrdt: commands answered from a fresh
derived view never pay for it.
"""

from __future__ import annotations

from ._audit import SessionInfo as SessionInfo
from ._claiming import DEFAULT_LEASE_S as DEFAULT_LEASE_S
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
from ._store import Ledger as Ledger

__version__ = "0.1.0"
