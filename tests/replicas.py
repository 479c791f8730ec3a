"""Replicas that share nothing but copies of each other's log files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ledger import Layout, Ledger, Replayer, State


@dataclass
class Clock:
    """A settable wall clock (epoch ms)."""

    now: int = 1_800_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


@dataclass
class Replica:
    """One machine: its own home folder, session and clock."""

    home: Path
    session: str
    clock: Clock = field(default_factory=Clock)
    list_id: str = "main"

    @property
    def ledger(self) -> Ledger:
        return Ledger.open(self.home, self.list_id, self.session, clock=self.clock)

    @property
    def logs(self) -> Path:
        return Layout.of(self.home, self.list_id).logs

    def own_logs(self) -> list[Path]:
        return sorted(self.logs.glob(f"{self.session}.*.jsonl"))

    def send_to(self, other: Replica) -> None:
        """Copy every log this replica has into the other one (an exchange of files)."""
        other.logs.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.logs.glob("*.jsonl")):
            target = other.logs / path.name
            if target.exists() and target.stat().st_size >= path.stat().st_size:
                continue
            shutil.copyfile(path, target)


def replay_dir(logs: Path) -> State:
    """Replay a folder of logs from scratch."""
    replayer = Replayer(logs)
    replayer.catch_up()
    return replayer.state()
