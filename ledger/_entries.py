"""What a shard document holds: the key layout, and each entry's encoding.

Tasks are spread over 256 shard documents by ``shard_of`` (docs/format.md).
In a shard document the root map ``tasks`` maps each task id to a task map
with these keys::

    c:<writer>            created: entry whose value is null (written once, by the creator)
    u:<writer>            touched: the writer's latest op on the task (value null)
    f:<field>:<writer>    the writer's latest value of a last-writer-wins field
    m:<key>:<writer>      the writer's latest value of a metadata key (null = removed)
    b:<blocker>:<writer>  the writer's latest view of the edge blocker -> task (true/false)
    d                     description: a Text
    n                     notes: an Array of JSON strings

Every key that carries a writer is written by that writer only, so Yjs never
resolves a conflict between two writers (it would pick the higher client id,
not the later write); readers pick the winner by (HLC, session) and the
losers stay in the document. An entry is a JSON string ``[value, hlc_ms,
hlc_counter, session, seq, wall_ms]``: values go in as JSON text, never as
pycrdt numbers (which turn ints into floats and panic at 2**64).
"""

from __future__ import annotations

from typing import Any

from . import _json
from ._model import Hlc, Json, Stamp

ROOT = "tasks"
DESCRIPTION = "d"
NOTES = "n"


def entry(value: Json, stamp: Stamp) -> str:
    """Encode a value with the stamp of the write that sets it."""
    return _json.dumps(
        [value, stamp.hlc.ms, stamp.hlc.counter, stamp.session, stamp.seq, stamp.wall_ms]
    )


def stamp_of(items: list[Any], writer: str) -> Stamp | None:
    """The stamp in a decoded entry's last five items, or None when malformed."""
    ms, counter, session, seq, wall = items[1:6]
    if (
        type(ms) is int
        and type(counter) is int
        and type(seq) is int
        and type(wall) is int
        and type(session) is str
    ):
        return Stamp(Hlc(ms, counter), session, writer, seq, wall)
    return None


def note_json(text: str, stamp: Stamp) -> str:
    """Encode a note for the notes array: an entry with the writer appended."""
    return entry(text, stamp)[:-1] + "," + _json.dumps(stamp.writer) + "]"
