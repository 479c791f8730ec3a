"""The limits on what a task may hold, and the checks that enforce them at the door.

Everything a session asks to store passes through here before any op is
decided: text must be valid UTF-8 within its limit (one line where a line is
asked for), metadata values must be strict JSON (no NaN or Infinity) nested
at most ``MAX_DEPTH`` levels. Over a limit is ``InvalidValue`` (exit 1), and
nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _json
from ._errors import InvalidValue

if TYPE_CHECKING:
    from ._model import Json

SUBJECT_MAX = 1_000
ACTIVE_FORM_MAX = 1_000
OWNER_MAX = 200
DESCRIPTION_MAX = 200_000
NOTE_MAX = 100_000
META_KEY_MAX = 200
META_VALUE_MAX = 100_000
MAX_DEPTH = _json.MAX_DEPTH
DEFAULT_LEASE_S = 30 * 60  # seconds a claim lasts unless renewed


def check_text(name: str, value: str, limit: int, *, one_line: bool = False) -> str:
    """Validate a text field: encodable, within its limit, one line if asked.

    Raises:
        InvalidValue: naming the field and the rule it breaks.
    """
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue(f"{name} is not valid UTF-8 text") from exc
    if len(value) > limit:
        raise InvalidValue(f"{name} is {len(value):,} characters long; the limit is {limit:,}")
    if one_line and ("\n" in value or "\r" in value):
        raise InvalidValue(f"{name} must be a single line")
    return value


def check_meta_key(key: str) -> str:
    """Validate a metadata key.

    Raises:
        InvalidValue: when it is empty, too long or not text.
    """
    if not key:
        raise InvalidValue("metadata key must not be empty")
    return check_text("metadata key", key, META_KEY_MAX, one_line=True)


def check_meta_value(key: str, value: Json) -> Json:
    """Validate a metadata value: strict JSON, nested at most ``MAX_DEPTH`` levels, bounded.

    Raises:
        InvalidValue: when it is not.
    """
    if _json.nesting(value) > MAX_DEPTH:
        raise InvalidValue(f"metadata {key!r} is nested deeper than {MAX_DEPTH} levels")
    try:
        text = _json.dumps(value)
        text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise InvalidValue(f"metadata {key!r} is not a JSON value") from exc
    if len(text) > META_VALUE_MAX:
        raise InvalidValue(
            f"metadata {key!r} is {len(text):,} characters long; the limit is {META_VALUE_MAX:,}"
        )
    return value


def check_subject(value: str) -> str:
    """Validate a subject: one non-blank line within its limit.

    Raises:
        InvalidValue: naming the rule it breaks.
    """
    check_text("subject", value, SUBJECT_MAX, one_line=True)
    if not value.strip():
        raise InvalidValue("subject must not be empty")
    return value
