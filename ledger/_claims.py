"""Claim files: the linearization point of ``claim`` on one file system.

Each task that was ever claimed has a folder ``.ledger/claims/<task-id>/``
holding numbered *generations*: ``0000000001.json``, ``0000000002.json``...
The highest generation says who holds the task and until when (or that it
was released). Changing that -- a claim, a renewal, a release -- means
publishing the next generation with ``link(2)``, which fails if the name
exists: of any number of processes racing to publish generation ``n + 1``,
exactly one succeeds, and every other learns at once who did. Nobody waits
on anything, and nothing can go stale: a claimant killed at any instant
leaves a generation whose lease simply runs out.

Generations older than the previous one are removed as new ones are
published (best effort); the highest is never removed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ._errors import StorageError
from ._log import make_dirs

CLAIM = "claim"
RELEASE = "release"
LOST = "lost"
_NAME = re.compile(r"(\d{10})\.json")
_READ_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Generation:
    """One published generation of a task's claim.

    Attributes:
        number: the generation number (1, 2, ...).
        kind: ``claim`` (also a renewal), ``release`` or ``lost`` (the holder
            learned that another replica's claim won).
        session: who published it.
        until_ms: for a claim, when its lease ends (epoch ms).
        at_ms: when it was published.
    """

    number: int
    kind: str
    session: str
    until_ms: int
    at_ms: int

    def holder(self, now_ms: int) -> str | None:
        """The session holding the task by this generation at ``now_ms``, if any."""
        if self.kind == CLAIM and self.until_ms > now_ms:
            return self.session
        return None


class Raced(Exception):
    """Another process published the generation first (internal)."""

    def __init__(self, winner: Generation | None) -> None:
        super().__init__("another process published this generation first")
        self.winner = winner


def _parse(number: int, data: bytes) -> Generation | None:
    try:
        raw = json.loads(data)
        kind, session, until, at = raw["kind"], raw["session"], raw["until"], raw["at"]
    except (ValueError, KeyError, TypeError):
        return None
    if (
        kind not in (CLAIM, RELEASE, LOST)
        or not isinstance(session, str)
        or type(until) is not int
        or type(at) is not int
    ):
        return None
    return Generation(number, kind, session, until, at)


class ClaimFolder:
    """The claim generations of one task.

    Args:
        claims: the ``.ledger/claims`` folder.
        task_id: the task.
    """

    def __init__(self, claims: Path, task_id: str) -> None:
        self.path = claims / task_id

    def _numbers(self) -> list[int]:
        try:
            names = [entry.name for entry in self.path.iterdir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot read claims in {self.path}: {exc.strerror}") from exc
        return sorted(int(m.group(1)) for n in names if (m := _NAME.fullmatch(n)))

    def _read(self, number: int) -> Generation | None:
        try:
            data = (self.path / f"{number:010d}.json").read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read claims in {self.path}: {exc.strerror}") from exc
        return _parse(number, data)

    def latest(self) -> tuple[int, Generation | None]:
        """The highest generation number and its content (None if unreadable).

        Returns ``(0, None)`` for a task never claimed.
        """
        for _ in range(_READ_ATTEMPTS):
            numbers = self._numbers()
            if not numbers:
                return 0, None
            top = numbers[-1]
            found = self._read(top)
            if found is not None or (self.path / f"{top:010d}.json").exists():
                return top, found
            # removed between listing and reading: a newer one exists; look again
        return top, None

    def publish(self, after: int, kind: str, session: str, until_ms: int, at_ms: int) -> Generation:
        """Publish generation ``after + 1``, or learn who did.

        Args:
            after: the generation the caller decided on.
            kind: ``claim``, ``release`` or ``lost``.
            session: the publisher.
            until_ms: the lease end (claims).
            at_ms: now.

        Raises:
            Raced: when that generation already exists (carries its content).
            StorageError: when the folder cannot be written.
        """
        number = after + 1
        final = self.path / f"{number:010d}.json"
        body = json.dumps({"kind": kind, "session": session, "until": until_ms, "at": at_ms})
        tmp = self.path / f".{number:010d}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            make_dirs(self.path)
            tmp.write_text(body)
            try:
                os.link(tmp, final)
            except FileExistsError:
                raise Raced(self._read(number)) from None
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write claims in {self.path}: {exc.strerror}") from exc
        for old in self._numbers():
            if old < number - 1:
                try:
                    (self.path / f"{old:010d}.json").unlink()
                except OSError:
                    pass
        return Generation(number, kind, session, until_ms, at_ms)
