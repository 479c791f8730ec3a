"""taskledger's library: a lossless, lock-free shared task list.

Each session appends operations to its own log; every reader merges all logs
through pycrdt into the same state, materialized as Claude Code task files.
This module is the whole public API: front ends (the CLI, the MCP server,
the board) import only what is named here.

Names are loaded on first use, so a command pays only for what it touches:
one answered from a fresh snapshot never loads pycrdt or the write path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._audit import Conflict as Conflict
    from ._audit import Write as Write
    from ._checks import DEFAULT_LEASE_S as DEFAULT_LEASE_S
    from ._claude import HookAnswer as HookAnswer
    from ._claude import handle_hook as handle_hook
    from ._claude import install_hooks as install_hooks
    from ._claude import register_mcp as register_mcp
    from ._claude import settings_file as settings_file
    from ._claude import uninstall_hooks as uninstall_hooks
    from ._depgraph import DependencyGraph as DependencyGraph
    from ._depgraph import dependency_graph as dependency_graph
    from ._depgraph import to_dot as to_dot
    from ._depgraph import to_mermaid as to_mermaid
    from ._edits import Edits as Edits
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
    from ._errors import SyncError as SyncError
    from ._errors import TaskDeleted as TaskDeleted
    from ._ids import LIST_PATTERN as LIST_PATTERN
    from ._ids import SESSION_PATTERN as SESSION_PATTERN
    from ._ids import check_list_id as check_list_id
    from ._ids import check_session as check_session
    from ._ids import is_session as is_session
    from ._ids import sanitize_session as sanitize_session
    from ._layout import Layout as Layout
    from ._layout import default_session as default_session
    from ._ledger import Ledger as Ledger
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
    from ._outcome import Outcome as Outcome
    from ._replay import Replayer as Replayer
    from ._sessions import Beacon as Beacon
    from ._sessions import Presence as Presence
    from ._sessions import SessionInfo as SessionInfo
    from ._shapes import conflict_json as conflict_json
    from ._shapes import lease_json as lease_json
    from ._shapes import record_json as record_json
    from ._shapes import session_json as session_json
    from ._shapes import stamp_json as stamp_json
    from ._shapes import task_file_json as task_file_json
    from ._shapes import task_json as task_json
    from ._shapes import write_json as write_json
    from ._state import OP_KINDS as OP_KINDS
    from ._state import STATUSES as STATUSES
    from ._state import Row as Row
    from ._state import State as State
    from ._timeparse import iso_ms as iso_ms
    from ._timeparse import parse_time as parse_time
    from ._verify import Problem as Problem
    from ._verify import Report as Report
    from ._watch import Filter as Filter
    from ._watch import Follower as Follower
    from ._watch import LiveEvent as LiveEvent

__version__ = "0.2.0"


_EXPORTS = {
    "DependencyGraph": "_depgraph",
    "dependency_graph": "_depgraph",
    "to_dot": "_depgraph",
    "to_mermaid": "_depgraph",
    "HookAnswer": "_claude",
    "handle_hook": "_claude",
    "install_hooks": "_claude",
    "register_mcp": "_claude",
    "settings_file": "_claude",
    "uninstall_hooks": "_claude",
    "Conflict": "_audit",
    "Write": "_audit",
    "DEFAULT_LEASE_S": "_checks",
    "Edits": "_edits",
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
    "SyncError": "_errors",
    "TaskDeleted": "_errors",
    "LIST_PATTERN": "_ids",
    "SESSION_PATTERN": "_ids",
    "check_list_id": "_ids",
    "check_session": "_ids",
    "is_session": "_ids",
    "sanitize_session": "_ids",
    "Layout": "_layout",
    "default_session": "_layout",
    "Ledger": "_ledger",
    "Record": "_log",
    "Replayer": "_replay",
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
    "Beacon": "_sessions",
    "Presence": "_sessions",
    "conflict_json": "_shapes",
    "lease_json": "_shapes",
    "record_json": "_shapes",
    "session_json": "_shapes",
    "stamp_json": "_shapes",
    "task_json": "_shapes",
    "task_file_json": "_shapes",
    "write_json": "_shapes",
    "SessionInfo": "_sessions",
    "OP_KINDS": "_state",
    "STATUSES": "_state",
    "Row": "_state",
    "State": "_state",
    "iso_ms": "_timeparse",
    "parse_time": "_timeparse",
    "Problem": "_verify",
    "Report": "_verify",
    "Outcome": "_outcome",
    "Filter": "_watch",
    "Follower": "_watch",
    "LiveEvent": "_watch",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ledger.{module}"), name)
    globals()[name] = value
    return value
