"""A shard's tasks file in the cache: its resolved tasks, one a line, and its clocks.

``{"tasks":[<task>,\n<task>,\n...],"declared":{<writer hex>: clock}}``, each
task the compact JSON of ``partial_out``, starting ``{"id":"<task id>",``
(compact JSON holds no newline, so ``,\n`` parts the tasks). Reading it
parses the clocks and only the starts of the lines: each task is parsed when
first asked for (``Partials``), and a save copies the ones that did not
change as they were read. A file of another shape (all on one line, as older
saves wrote it) is parsed whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _json
from ._cache_format import Partials
from ._errors import CacheBroken
from ._ids import is_task_id, shard_of

if TYPE_CHECKING:
    from ._model import Partial

_TASKS, _DECLARED = b'{"tasks":[', b'],"declared":'


def shard_file_out(partials: Mapping[str, Partial], declared: Mapping[int, int]) -> bytes:
    """The file's bytes for these tasks and clocks."""
    declared_json = _json.dumps_bytes({f"{c:x}": k for c, k in declared.items()})
    tasks = b",\n".join(Partials.of(partials).out())
    return b"%b%b%b%b}" % (_TASKS, tasks, _DECLARED, declared_json)


def shard_file_in(shard: str, data: bytes) -> tuple[Partials, dict[int, int]]:
    """A shard's tasks (each parsed when asked for) and declared clocks.

    Raises:
        CacheBroken: for a malformed file, a task id that is not one, of another
            shard or twice; a malformed task, when it is asked for.
    """
    lazy = _lines(shard, data)
    if lazy is not None:
        return lazy
    try:
        raw = _json.loads(data, depth=None)
        items: dict[str, Partial | dict[str, Any] | bytes] = {}
        for item in raw["tasks"]:
            task_id = item["id"]
            if not (isinstance(task_id, str) and is_task_id(task_id)):
                raise ValueError("a task without a valid id")
            if shard_of(task_id) != shard or task_id in items:
                raise ValueError("a task in the wrong shard, or twice")
            items[task_id] = item
        tasks = Partials(items, _encoded(data, items))
        declared = {int(c, 16): int(k) for c, k in raw["declared"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CacheBroken(f"shard {shard}: {exc}") from exc
    return tasks, declared


def _lines(shard: str, data: bytes) -> tuple[Partials, dict[int, int]] | None:
    """A shard file of one task a line, read without parsing its tasks: each is
    parsed when first asked for (``Partials``; a catch-up that changes 2 of a
    shard's 40 tasks parses those 2). None for a file not of that shape -- an
    older one, with every task on one line -- or with a task id that is not
    one of this shard's, or twice (then the whole file is parsed, and says
    what is wrong).

    Raises:
        CacheBroken: for malformed clocks.
    """
    start, end = len(_TASKS), data.rfind(_DECLARED)
    if not data.startswith(_TASKS) or end < start or not data.endswith(b"}"):
        return None
    lines = data[start:end].split(b",\n") if end > start else []
    heads = b"".join([line[:25] for line in lines])
    if len(heads) != 25 * len(lines) or not 0 < len(shard) < 16:
        return None  # (a line too short to start with an id, or no shard's name)
    if not _heads(shard).fullmatch(heads):
        return None
    text = heads.decode("ascii")
    items: dict[str, Partial | dict[str, Any] | bytes] = {}
    encoded = dict(zip([text[i + 7 : i + 23] for i in range(0, len(text), 25)], lines, strict=True))
    if len(encoded) != len(lines):
        return None
    if len(lines) == 1 and not _one_task(lines[0]):
        return None  # (an older file: every task on its one line)
    items.update(encoded)
    try:
        raw = _json.loads(data[end + len(_DECLARED) : -1], depth=None)
        declared = {int(c, 16): int(k) for c, k in raw.items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise CacheBroken(f"shard {shard}: {exc}") from exc
    return Partials(items, encoded), declared


def _one_task(line: bytes) -> bool:
    """Whether a file's only line is one task: compact JSON holds no newline, so
    several tasks on one line are an older file's (joined by ``,`` alone)."""
    try:
        return isinstance(_json.loads(line, depth=None), dict)
    except ValueError:
        return False


def _heads(shard: str) -> re.Pattern[bytes]:
    """The starts of a shard file's task lines: each ``{"id":"<a task id of the shard>",``."""
    rest = 16 - len(shard)  # (a task id is 16 hex digits, its shard the first two)
    return re.compile(rb'(?:\{"id":"' + re.escape(shard.encode()) + rb'[0-9a-f]{%d}",)*' % rest)


def _encoded(data: bytes, items: Mapping[str, object]) -> dict[str, bytes] | None:
    """Each task's JSON text as the shard file holds it, one a line (a save writes a
    task that did not change as it was read, without encoding it again); None for a
    file that does not hold them so (an older one)."""
    start, end = data.find(_TASKS) + len(_TASKS), data.rfind(_DECLARED)
    if start < len(_TASKS) or end < start:
        return None
    lines = data[start:end].split(b",\n") if end > start else []
    return dict(zip(items, lines, strict=True)) if len(lines) == len(items) else None
