"""The layout of a task inside the pycrdt documents, shared by writer and reader.

Tasks are spread over 256 shard documents by the first two hex digits of
their id (docs/format.md says why). In a shard document, the root map
``tasks`` maps each task id to a task map with these keys::

    c:<writer>            created: entry whose value is null (written once, by the creator)
    u:<writer>            touched: the writer's latest op on the task (value null)
    f:<field>:<writer>    the writer's latest value of a last-writer-wins field
    m:<key>:<writer>      the writer's latest value of a metadata key (null = removed)
    b:<blocker>:<writer>  the writer's latest view of the edge blocker -> task (true/false)
    d                     description: a pycrdt Text
    n                     notes: a pycrdt Array of JSON strings

Every key that carries a writer is written by that writer only, so Yjs never
resolves a conflict between two writers (it would pick the higher client id,
not the later write). Instead each writer's latest value survives, and the
reader picks the winner by (HLC, session) -- and the losers stay in the
document, recoverable.

An entry is a JSON string ``[value, hlc_ms, hlc_counter, session, seq,
wall_ms]``. Values go in as JSON text, never as pycrdt numbers: pycrdt turns
ints into floats and panics on ints of 2**64 and up.
"""

from __future__ import annotations

import json

from ._log import unicode_ok
from ._model import Hlc, Json, Stamp

ROOT = "tasks"
DESCRIPTION = "d"
NOTES = "n"
SHARD_DIGITS = 2


def shard_of(task_id: str) -> str:
    """The shard document a task lives in."""
    return task_id[:SHARD_DIGITS]


def entry(value: Json, stamp: Stamp) -> str:
    """Encode a value with the stamp of the write that sets it."""
    return json.dumps(
        [value, stamp.hlc.ms, stamp.hlc.counter, stamp.session, stamp.seq, stamp.wall_ms],
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def _from_items(items: object, writer: str) -> tuple[Json, Stamp] | None:
    if not isinstance(items, list) or len(items) != 6:
        return None
    value, ms, counter, session, seq, wall = items
    if not (
        type(ms) is int
        and type(counter) is int
        and type(seq) is int
        and type(wall) is int
        and isinstance(session, str)
    ):
        return None
    return value, Stamp(Hlc(ms, counter), session, writer, seq, wall)


def parse_entry(raw: object, writer: str) -> tuple[Json, Stamp] | None:
    """Decode an entry written by ``writer``; None when it is malformed."""
    if not isinstance(raw, str):
        return None
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not unicode_ok(raw, items):
        return None
    return _from_items(items, writer)


def note_json(text: str, stamp: Stamp) -> str:
    """Encode a note for the notes array: an entry with the writer appended."""
    return entry(text, stamp)[:-1] + "," + json.dumps(stamp.writer) + "]"


def parse_note(raw: object) -> tuple[str, Stamp] | None:
    """Decode a note; None when it is malformed."""
    if not isinstance(raw, str):
        return None
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not unicode_ok(raw, items):
        return None
    if not isinstance(items, list) or len(items) != 7 or not isinstance(items[6], str):
        return None
    parsed = _from_items(items[:6], items[6])
    if parsed is None or not isinstance(parsed[0], str):
        return None
    return parsed[0], parsed[1]
