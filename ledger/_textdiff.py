"""Minimal edits that turn one text into another.

A description replace is applied to the shared pycrdt ``Text`` as these edits
rather than as delete-all-insert-all, so that concurrent edits to different
parts of a description both survive the merge (SPEC section 3.4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Above this many lines the line-level diff (quadratic in the worst case) is
# skipped and the changed middle is replaced as one edit.
_MAX_DIFF_LINES = 2000
# Above this many characters, a chunk both sides changed is not merged
# character by character (also quadratic): the later write's version wins.
_MAX_MERGE_CHARS = 2000


def _trim(old: str, start: int, end: int, new: str) -> tuple[int, int, str]:
    """Shrink the edit ``old[start:end] -> new`` by their common prefix and suffix."""
    chunk = old[start:end]
    lo = 0
    limit = min(len(chunk), len(new))
    while lo < limit and chunk[lo] == new[lo]:
        lo += 1
    hi = 0
    while hi < limit - lo and chunk[len(chunk) - 1 - hi] == new[len(new) - 1 - hi]:
        hi += 1
    return start + lo, end - hi, new[lo : len(new) - hi]


def text_edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """Edits that turn ``old`` into ``new``.

    Args:
        old: the current text.
        new: the wanted text.

    Returns:
        Non-overlapping ``(start, end, replacement)`` edits in ascending order,
        in character offsets of ``old``; applying them from last to first
        yields ``new``. Unchanged lines are never part of an edit.
    """
    if old == new:
        return []
    start, end, middle = _trim(old, 0, len(old), new)
    old_lines = old[start:end].splitlines(keepends=True)
    new_lines = middle.splitlines(keepends=True)
    if (
        len(old_lines) < 2
        or len(new_lines) < 2
        or max(len(old_lines), len(new_lines)) > _MAX_DIFF_LINES
    ):
        return [(start, end, middle)]
    offsets = [start]
    for line in old_lines:
        offsets.append(offsets[-1] + len(line))
    import difflib  # (2-3 ms to import, with heapq: paid only by a description edit)

    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(_trim(old, offsets[i1], offsets[i2], "".join(new_lines[j1:j2])))
    return edits


def apply_edits(old: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply ``text_edits`` output to ``old`` (used by tests and verification)."""
    out = old
    for start, end, repl in reversed(edits):
        out = out[:start] + repl + out[end:]
    return out


def _anchors(base: Sequence[T], other: Sequence[T]) -> dict[int, int]:
    """Map each index of ``base`` that ``other`` kept unchanged to its index there."""
    import difflib

    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    out = {}
    for block in matcher.get_matching_blocks():
        for n in range(block.size):
            out[block.a + n] = block.b + n
    return out


def _merge3(
    base: Sequence[T],
    ours: Sequence[T],
    theirs: Sequence[T],
    clash: Callable[[Sequence[T], Sequence[T], Sequence[T]], list[T]],
) -> list[T]:
    """Three-way merge of sequences; ``clash`` settles chunks both sides changed."""
    to_ours = _anchors(base, ours)
    to_theirs = _anchors(base, theirs)
    out: list[T] = []
    i = j = k = 0
    while True:
        s = i
        while s < len(base) and not (
            s in to_ours and s in to_theirs and to_ours[s] >= j and to_theirs[s] >= k
        ):
            s += 1
        if s < len(base):
            o_end, t_end = to_ours[s], to_theirs[s]
        else:
            o_end, t_end = len(ours), len(theirs)
        b_chunk, o_chunk, t_chunk = base[i:s], ours[j:o_end], theirs[k:t_end]
        if o_chunk == b_chunk:
            out.extend(t_chunk)
        elif t_chunk in (b_chunk, o_chunk):
            out.extend(o_chunk)
        else:
            out.extend(clash(b_chunk, o_chunk, t_chunk))
        if s >= len(base):
            return out
        out.append(base[s])
        i, j, k = s + 1, o_end + 1, t_end + 1


def merge3(base: str, ours: str, theirs: str) -> str:
    """Merge our edit of ``base`` into ``theirs``, an edit of ``base`` made meanwhile.

    Lines only one side changed take that side's version; lines both sides
    changed are merged character by character, and where both changed the
    same characters, ours (the later write) wins.

    Args:
        base: the text the writer saw when it decided.
        ours: the text the writer wants.
        theirs: the text as it stands now.

    Returns:
        The merged text.
    """
    if ours == base:
        return theirs
    if theirs in (base, ours):
        return ours

    def chars(b: Sequence[str], o: Sequence[str], t: Sequence[str]) -> list[str]:
        joined = ["".join(x) for x in (b, o, t)]
        if max(map(len, joined)) > _MAX_MERGE_CHARS:
            return list(o)  # character matching is quadratic: ours wins the chunk
        merged = _merge3(joined[0], joined[1], joined[2], lambda _b, oc, _t: list(oc))
        return ["".join(merged)]

    lines = [s.splitlines(keepends=True) for s in (base, ours, theirs)]
    if max(map(len, lines)) > _MAX_DIFF_LINES:
        return ours
    return "".join(_merge3(lines[0], lines[1], lines[2], chars))
