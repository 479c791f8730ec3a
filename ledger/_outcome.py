"""What a pass over Claude Code's folder did (``View``'s answer)."""

from __future__ import annotations

from ._datatype import datatype, field


@datatype
class Outcome:
    """What a pass over the folder did.

    Attributes:
        written: file names (re)written.
        removed: file names removed.
        recorded: ops recorded from Claude Code's writes.
        created: of those, the tasks Claude Code created.
        errors: what the file system refused.
        left: file names left for later (Claude Code held their lock).
    """

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
