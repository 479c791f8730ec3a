"""Minimal edits that turn one text into another.

A description replace is applied to the shared pycrdt ``Text`` as these edits
rather than as delete-all-insert-all, so that concurrent edits to different
parts of a description both survive the merge (SPEC section 3.4).
"""

from __future__ import annotations

import difflib

# Above this many lines the line-level diff (quadratic in the worst case) is
# skipped and the changed middle is replaced as one edit.
_MAX_DIFF_LINES = 4000


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
