"""A create or update request: the fields to change, as a caller names them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._datatype import datatype, field
from ._model import Json, Status


@datatype(frozen=True)
class Edits:
    """The field edits of a create or update request (None: leave as is).

    Attributes:
        subject: new subject.
        description: new description (applied as a minimal text diff).
        active_form: new active form ("" clears it).
        status: new status.
        owner: new owner ("" clears it).
        add_blocked_by: ids (or prefixes) of tasks that must block this one.
        remove_blocked_by: ids of blockers to drop.
        add_blocks: ids of tasks this one must block.
        remove_blocks: ids of tasks to stop blocking.
        set_meta: metadata keys to set.
        unset_meta: metadata keys to remove.
    """

    subject: str | None = None
    description: str | None = None
    active_form: str | None = None
    status: Status | None = None
    owner: str | None = None
    add_blocked_by: Sequence[str] = ()
    remove_blocked_by: Sequence[str] = ()
    add_blocks: Sequence[str] = ()
    remove_blocks: Sequence[str] = ()
    set_meta: Mapping[str, Json] = field(default_factory=dict)
    unset_meta: Sequence[str] = ()

    def is_empty(self) -> bool:
        """True when the request changes nothing."""
        return (
            self.subject is None
            and self.description is None
            and self.active_form is None
            and self.status is None
            and self.owner is None
            and not self.add_blocked_by
            and not self.remove_blocked_by
            and not self.add_blocks
            and not self.remove_blocks
            and not self.set_meta
            and not self.unset_meta
        )
