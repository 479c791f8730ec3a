"""The write step: lock the session's own log, catch up, decide, stamp, append.

Under the ``flock`` of the session's own log only (so the processes of one
session take turns and never reuse a pycrdt clock):

1. catch up on every log (only what waits for the op's shards is applied);
2. let a pure planner (``_decide``) decide the op against that state;
3. retire the writer for a new one if its own log is damaged;
4. stamp it: the next seq, an HLC after everything read (records far in the
   future do not move the clock), the wall time;
5. apply it to the shard documents as this writer, capturing the update of
   exactly that transaction;
6. refuse to append a record its own reader would reject; append it and
   fsync.

That is all a writer does. Its task files are brought in line by the
caller (``_after_write.show``), and its snapshot is saved after that.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._append import Appender
from ._datatype import datatype, field
from ._doc import write_op
from ._errors import BadRecord, CacheBroken, InvalidValue, StorageError
from ._ids import log_name, new_task_id, shard_of
from ._layout import Layout, writer_of
from ._log import Record, encode_record, parse_record
from ._model import Op, Stamp
from ._state import State
from ._timeparse import iso_ms

if TYPE_CHECKING:
    from ._reader import Reader
    from ._replay import Replayer

#: decides the op from the state now and the id a create would get (None: nothing to do)
Decide = Callable[[State, str], Op | None]


@datatype(frozen=True)
class Committed:
    """What a write appended.

    Attributes:
        op: the op (None when the request changed nothing and nothing was appended).
        record: its record, as appended.
        state: the state right after it.
        before: the state it was decided on (None when nothing was appended).
    """

    op: Op | None
    record: Record | None
    state: State
    before: State | None = None

    def files(self) -> set[str]:
        """The tasks whose file this op may change: its own, the ones it links or
        unlinks, and every task shown beside it as blocking or blocked, before or after."""
        op = self.op
        if op is None:
            return set()
        own = {op.task, *(other for other, _ in op.blocks), *(b for b, _ in op.blocked_by)}
        out = set(own)
        for state in (self.before, self.state):
            if state is not None:
                for task_id in own:
                    out.update(state.edges.blocks.get(task_id, ()))
                    out.update(state.edges.blocked_by.get(task_id, ()))
        return out


@datatype(slots=False)
class Writer:
    """The appends of one session on one list.

    Attributes:
        layout: where the list lives.
        session: the session whose log this writes.
        reader: the read path it catches up through.
        clock: epoch-milliseconds wall clock.
        warnings: where to report a retired writer.
    """

    layout: Layout
    session: str
    reader: Reader
    clock: Callable[[], int]
    warnings: list[str]
    _writer: str | None = field(default=None, init=False)

    def writer_id(self) -> str:
        """This machine's writer for the session (made on first use)."""
        if self._writer is None:
            self._writer = writer_of(self.layout, self.session)
        return self._writer

    def commit(self, decide: Decide) -> Committed:
        """Append the op ``decide`` makes of the state now; return what was appended.

        Raises:
            LedgerError: whatever ``decide`` raises; StorageError when the
                log cannot be written.
        """
        writer = self.writer_id()
        retired = False
        rebuilt = False
        while True:
            replayer = self.reader.for_writing(int(writer, 16))
            try:
                done = self._attempt(replayer, writer, decide, retiring=not retired)
            except CacheBroken as exc:  # met before anything was appended
                if rebuilt:
                    raise StorageError(f"the derived cache cannot be rebuilt: {exc}") from exc
                self.warnings.append(f"the derived cache was broken ({exc}): rebuilt from the logs")
                self.reader.drop()
                rebuilt = True
                continue
            except BaseException:
                # The documents may hold an op that never reached the log; writing
                # on top of it would reuse its clocks. Start over from the logs.
                self.reader.discard()
                raise
            if isinstance(done, Committed):
                return done
            old, writer, retired = writer, writer_of(self.layout, self.session, retire=writer), True
            self._writer = writer
            self.reader.discard()
            self.warnings.append(
                f"writer {old} of session {self.session} cannot append safely: "
                f"{done}; this session continues with new writer {writer}"
            )

    def _attempt(
        self, replayer: Replayer, writer: str, decide: Decide, *, retiring: bool
    ) -> Committed | str:
        name = log_name(self.session, writer)
        logs = self.layout.open("logs", create=True)
        assert logs is not None
        with logs, Appender(logs, name) as appender:
            replayer.catch_up()
            self.warnings.extend(str(w) for w in replayer.take_warnings())
            seq, prev = replayer.head(name)
            state = replayer.state()
            op = decide(state, new_task_id(writer, seq + 1))
            if op is None:
                return Committed(None, None, state)
            shards = {shard_of(op.task)} | {shard_of(other) for other, _ in op.blocks}
            damage = replayer.writer_damaged(writer, shards)
            if damage is not None:
                if retiring:
                    return damage
                raise StorageError(f"writer {writer} cannot append safely: {damage}")
            record, line = self._stamp(replayer, op, writer, seq + 1, prev)
            at = appender.append(line)
            replayer.own(name, record, line, at)
            self.reader.appended(record)
        return Committed(op, record, replayer.state(), state)

    def _stamp(
        self, replayer: Replayer, op: Op, writer: str, seq: int, prev: str
    ) -> tuple[Record, bytes]:
        now = self.clock()
        hlc = replayer.clock_base(writer, now).tick(now)
        stamp = Stamp(hlc, self.session, writer, seq, now)
        raw, clocks, touched = write_op(replayer.shards.doc, op, stamp)
        client = int(writer, 16)
        for shard, tasks in touched.items():
            replayer.shards.wrote(shard, client, clocks[shard], tasks, len(raw.get(shard, b"")))
        updates = {shard: base64.b64encode(u).decode() for shard, u in raw.items()}
        record = Record(
            self.session, writer, seq, hlc, iso_ms(now), op.kind.value, op.task,
            op.to_readable(), updates, clocks, prev,
        )  # fmt: skip
        try:
            line = encode_record(record)
        except ValueError as exc:
            raise InvalidValue(f"cannot store this op: {exc}") from exc
        try:
            again = parse_record(line)
        except BadRecord as exc:
            raise StorageError(
                f"refusing to append a record this reader would reject: {exc}"
            ) from exc
        if (again.seq, again.hlc, again.task, again.updates) != (seq, hlc, op.task, updates):
            raise StorageError("refusing to append a record that does not read back as written")
        return record, line
