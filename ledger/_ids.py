"""Every name rule in one place: lists, sessions, writers, tasks, shards, short ids.

A task id is 16 lowercase hex digits: a hash of the creating writer's id and
its own sequence number. New ones start with a letter (``a``-``f``), so that
Claude Code's numbering, which takes ``parseInt`` of every file name, reads
them as ``NaN`` and is not moved; ids issued before that rule keep working.

A task Claude Code created in the shared folder (``1.json``, ``2.json``, ...)
gets a task id like any other, and keeps its number as a *native id*: on the
machine whose folder it came from, it is shown and addressed by that number,
and its file keeps that name (``_view``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ._errors import InvalidValue

LIST_PATTERN = "1-64 characters of [A-Za-z0-9._-], not starting with '.'"
SESSION_PATTERN = "1-64 characters of [A-Za-z0-9._@-], not starting with '.'"

_LIST_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
# '@' is allowed in session names (and only there) so that SPEC's own default,
# <user>@<host>, is a valid session name.
_SESSION_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}")
_WRITER_RE = re.compile(r"[0-9a-f]{13}")
#: a task id as a regular expression
TASK_ID = r"[0-9a-f]{16}"
_TASK_RE = re.compile(TASK_ID)
_NATIVE_RE = re.compile(r"[1-9][0-9]{0,15}")
_VIEW_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
SHORT_ID_MIN = 4
LOG_SUFFIX = ".jsonl"
_LETTER_SPAN = 6 << 60  # ids from a000... to ffff...


def _checked(value: str, rule: re.Pattern[str], what: str, pattern: str) -> str:
    if not rule.fullmatch(value):
        raise InvalidValue(f"invalid {what} {value!r}: use {pattern}")
    return value


def check_list_id(value: str) -> str:
    """Return a valid list id unchanged (raises InvalidValue naming the pattern)."""
    return _checked(value, _LIST_RE, "list id", LIST_PATTERN)


def check_session(value: str) -> str:
    """Return a valid session name unchanged (raises InvalidValue naming the pattern)."""
    return _checked(value, _SESSION_RE, "session name", SESSION_PATTERN)


def is_session(value: str) -> bool:
    """Tell whether a string is a valid session name."""
    return bool(_SESSION_RE.fullmatch(value))


def sanitize_session(value: str) -> str:
    """Make any text a valid session name (``-`` for what is not allowed)."""
    name = re.sub(r"[^A-Za-z0-9._@-]", "-", value).lstrip(".")[:64]
    return name or "session"


def view_id(list_id: str) -> str:
    """The name of a list's folder in Claude Code's home, as Claude Code spells it."""
    return _VIEW_UNSAFE.sub("-", list_id)


def is_writer_id(value: str) -> bool:
    """Tell whether a string is a writer id (13 lowercase hex digits)."""
    return bool(_WRITER_RE.fullmatch(value))


def new_writer_id(taken: Iterable[str] = ()) -> str:
    """A fresh writer id (52 random bits, nonzero, not in ``taken``)."""
    used = set(taken)
    while True:
        writer = f"{int.from_bytes(os.urandom(7)) >> 4:013x}"
        if int(writer, 16) and writer not in used:
            return writer


def is_task_id(value: str) -> bool:
    """Tell whether a string is a full task id (16 lowercase hex digits)."""
    return bool(_TASK_RE.fullmatch(value))


def is_native_id(value: str) -> bool:
    """Tell whether a name is one Claude Code numbers its tasks with (``1``, ``2``, ...)."""
    return bool(_NATIVE_RE.fullmatch(value))


def new_task_id(writer: str, seq: int) -> str:
    """The id of the task a writer's record ``seq`` creates.

    64 bits of BLAKE2b over ``<writer>:<seq>`` folded onto the ids that start
    with a hex letter: distinct (writer, seq) pairs give distinct inputs and
    the hash spreads them evenly (over 2^62.6 values).
    """
    from ._hashing import blake2b

    digest = blake2b(f"{writer}:{seq}".encode(), digest_size=8).digest()
    return f"{(int.from_bytes(digest) % _LETTER_SPAN) + (10 << 60):016x}"


def shard_of(task_id: str) -> str:
    """The shard document a task lives in: its first two hex digits."""
    return task_id[:2]


def log_name(session: str, writer: str) -> str:
    """The file name of a writer's log."""
    return f"{session}.{writer}{LOG_SUFFIX}"


def parse_log_name(name: str) -> tuple[str, str] | None:
    """Split ``<session>.<writer>.jsonl`` into its parts, or None if it is not one."""
    if not name.endswith(LOG_SUFFIX):
        return None
    session, dot, writer = name[: -len(LOG_SUFFIX)].rpartition(".")
    if not dot or not _WRITER_RE.fullmatch(writer) or not _SESSION_RE.fullmatch(session):
        return None
    return session, writer


def shortest_prefixes(ids: Iterable[str], minimum: int = SHORT_ID_MIN) -> dict[str, str]:
    """Map each id to its shortest unique prefix of at least ``minimum`` characters.

    With ``minimum`` above two, only ids that share their first two
    characters can matter, so groups can be done one at a time.
    """
    ordered = sorted(ids)
    out: dict[str, str] = {}
    for i, ident in enumerate(ordered):
        need = minimum
        for j in (i - 1, i + 1):
            if 0 <= j < len(ordered):
                other = ordered[j]
                common = 0
                limit = min(len(ident), len(other))
                while common < limit and ident[common] == other[common]:
                    common += 1
                need = max(need, common + 1)
        out[ident] = ident[: min(need, len(ident))]
    return out


def insert_prefixes(
    ordered: list[str], new: Iterable[str], minimum: int = SHORT_ID_MIN
) -> dict[str, str]:
    """Insert ``new`` into the sorted list ``ordered``; return the shortest unique
    prefixes that may have changed (the new ids' and their neighbours').

    An id's prefix depends only on its two neighbours in sorted order, so
    adding ids changes at most theirs: the work is in proportion to what
    was added, not to the size of ``ordered``.
    """
    import bisect

    for ident in new:
        i = bisect.bisect_left(ordered, ident)
        if i == len(ordered) or ordered[i] != ident:
            ordered.insert(i, ident)
    affected: set[str] = set()
    for ident in new:
        i = bisect.bisect_left(ordered, ident)
        affected.update(ordered[max(0, i - 1) : i + 2])
    out: dict[str, str] = {}
    for ident in affected:
        i = bisect.bisect_left(ordered, ident)
        out[ident] = shortest_prefixes(ordered[max(0, i - 1) : i + 2], minimum)[ident]
    return out


def prefix_group(task_id: str) -> str:
    """The ids a task's short id depends on share this (their first two characters)."""
    return task_id[:2]
