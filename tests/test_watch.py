"""Live watching: real watcher processes, torn appends, presence, the library stream."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger import Edits, Layout, Ledger
from ledger._settled import settled
from ledger._watch import Follower
from tests.conftest import ROOT, data_dir, proc_env, taskledger_argv, tl


class Watcher:
    """A real ``taskledger watch`` process whose output lines arrive on a queue."""

    def __init__(
        self, home: Path, *args: str, session: str = "watcher", argv: list[str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [*(argv or taskledger_argv()), "watch", *args],
            env=proc_env(home, TASKLEDGER_SESSION=session),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.errors.append), daemon=True
        ).start()
        self.home = home

    @staticmethod
    def _pump(stream: object, sink: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink(line)  # type: ignore[operator]

    def wait_live(self, session: str, timeout: float = 20.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            infos = json.loads(tl(self.home, "sessions", "--json").stdout)
            if any(i["session"] == session and i["live"] for i in infos):
                return
            time.sleep(0.1)
        raise AssertionError(f"{session} never became live: {self.errors}")

    def next(self, timeout: float = 20.0) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # (never left behind a failed test)
            self.proc.wait()
            raise
        for stream in (self.proc.stdout, self.proc.stderr):
            assert stream is not None
            stream.close()
        return code


@contextmanager
def watching(home: Path, *args: str, session: str = "watcher") -> Iterator[Watcher]:
    watcher = Watcher(home, *args, session=session)
    try:
        watcher.wait_live(session)
        yield watcher
    finally:
        if watcher.proc.poll() is None:
            watcher.stop()


def test_watch_json_prints_a_task_created_by_another_process(home: Path) -> None:
    tl(home, "create", "before the watcher", session="early")
    with watching(home, "--json") as watcher:
        tid = tl(home, "create", "made elsewhere", session="maker").stdout.strip()
        event = json.loads(watcher.next())
        assert (event["op"], event["task"], event["session"]) == ("create", tid, "maker")
        assert event["subject"] == "made elsewhere"
        assert list(event) == [
            "at", "hlc", "session", "writer", "seq", "op", "task", "subject", "fields",
        ]  # fmt: skip
        # a task file replaced by something that is no task is written again, with no new op
        target = home / "main" / f"{tid}.json"
        assert target.exists()
        target.write_text("not a task")
        deadline = time.time() + 20
        while target.read_text() == "not a task" and time.time() < deadline:
            time.sleep(0.02)
        assert json.loads(target.read_text())["subject"] == "made elsewhere"
        # a task file removed on its own is Claude Code's delete: recorded, never undone
        target.unlink()
        event = json.loads(watcher.next())
        assert (event["op"], event["task"], event["session"]) == ("delete", tid, "claude-code")
        assert not target.exists()
        assert watcher.stop() == 0
    assert watcher.lines.empty()  # nothing from before it started, nothing twice
    assert not watcher.errors


def test_human_watch_lines_and_filters(home: Path) -> None:
    keep = tl(home, "create", "watched task", session="a").stdout.strip()
    other = tl(home, "create", "other task", session="a").stdout.strip()
    with watching(home, "--task", keep[:6], "--session", "bob") as watcher:
        tl(home, "update", other, "--subject", "ignored: other task", session="bob")
        tl(home, "update", keep, "--subject", "ignored: by alice", session="alice")
        tl(home, "update", keep, "--status", "in_progress", session="bob")
        line = watcher.next()
        assert line.split()[1:4] == ["bob", "update", keep[:4]]
        assert "status: pending → in_progress" in line
    assert watcher.lines.empty()


_DIE_MID_APPEND = """
import os, signal, sys
from ledger import Ledger
import ledger._append as log
home, tid = sys.argv[1], sys.argv[2]
def torn(self, line):
    os.write(self._fd, line[: len(line) // 2])   # half of the record, no newline
    os.fsync(self._fd)
    print("torn", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
log.Appender.append = torn
Ledger.open(home, "main", "dying").note(tid, "this note never commits")
"""


def test_a_writer_killed_mid_append_is_never_printed_in_part(home: Path) -> None:
    tid = tl(home, "create", "target", session="setup").stdout.strip()
    tl(home, "note", tid, "dying's first note", session="dying")
    with watching(home, "--json") as watcher:
        dying = subprocess.run(
            [sys.executable, "-c", _DIE_MID_APPEND, str(home), tid],
            env=proc_env(home, PYTHONPATH=str(ROOT)),
            capture_output=True,
            text=True,
        )
        assert dying.returncode == -signal.SIGKILL
        assert dying.stdout == "torn\n"
        with pytest.raises(queue.Empty):
            watcher.next(timeout=1.0)  # half a record is not an event
        assert watcher.proc.poll() is None  # and did not crash the watcher
        tl(home, "note", tid, "after the crash", session="dying")
        event = json.loads(watcher.next())
        assert event["fields"]["note"] == "after the crash"
        assert event["session"] == "dying"
        with pytest.raises(queue.Empty):
            watcher.next(timeout=0.5)
    assert any("torn" in e for e in watcher.errors)
    assert not any("Traceback" in e for e in watcher.errors)


def test_sessions_tells_live_from_idle_watchers(home: Path) -> None:
    tl(home, "create", "anything", session="worker")
    one = Watcher(home, session="watch-one")
    two = Watcher(home, session="watch-two")
    try:
        one.wait_live("watch-one")
        two.wait_live("watch-two")
        assert two.stop() == 0
        infos = {i["session"]: i for i in json.loads(tl(home, "sessions", "--json").stdout)}
        assert infos["watch-one"]["live"] is True
        assert infos["watch-one"]["running"][0]["kind"] == "watch"
        assert infos["watch-one"]["running"][0]["pid"] == one.proc.pid
        assert infos.get("watch-two", {"live": False})["live"] is False
        assert infos["worker"]["live"] is False
        assert infos["worker"]["ops"] == 1
        human = tl(home, "sessions").stdout
        assert f"live: watch pid {one.proc.pid}" in human
    finally:
        for watcher in (one, two):
            if watcher.proc.poll() is None:
                watcher.stop()


def test_a_killed_watcher_turns_idle_when_its_heartbeat_stops(home: Path) -> None:
    ledger = Ledger.open(home, "main", "beater")
    follower = Follower(ledger, heartbeat_s=0.2)
    follower.start()
    observer = Ledger.open(home, "main", "observer")
    assert [s.session for s in observer.sessions() if s.live] == ["beater"]
    # killed without cleaning up: its file stays, its heartbeat stops
    time.sleep(0.5)
    assert [s.session for s in observer.sessions() if s.live] == []
    follower.close()


def test_poll_mode_sees_appends_without_notifications(home: Path) -> None:
    with watching(home, "--json", "--poll", "--poll-interval", "0.05") as watcher:
        for n in range(3):
            tl(home, "create", f"polled {n}", session="maker")
        subjects = [json.loads(watcher.next())["subject"] for _ in range(3)]
        assert subjects == ["polled 0", "polled 1", "polled 2"]


def test_library_stream_yields_events_from_other_processes(home: Path) -> None:
    ledger = Ledger.open(home, "main", "library")
    with Follower(ledger, heartbeat_s=1) as follower:
        stream = iter(follower)
        tid = tl(home, "create", "from a process", session="proc").stdout.strip()
        tl(home, "note", tid, "and a note", session="proc")
        events = []
        deadline = time.time() + 20
        while len(events) < 2 and time.time() < deadline:
            events += next(stream)
        assert [(e.record.kind, e.record.task) for e in events] == [("create", tid), ("note", tid)]
        assert events[-1].task is not None
        assert [n.text for n in events[-1].task.notes] == ["and a note"]
        follower.stop_event.set()


def test_async_stream(home: Path) -> None:
    ledger = Ledger.open(home, "main", "async")

    async def main() -> list[str]:
        got: list[str] = []
        with Follower(ledger, heartbeat_s=1) as follower:
            writer = Ledger.open(home, "main", "writer")

            async def produce() -> None:
                await asyncio.sleep(0.3)
                await asyncio.to_thread(writer.create, Edits(subject="async one"))

            producing = asyncio.create_task(produce())
            async for batch in follower:
                got += [e.task.subject for e in batch if e.task is not None]
                if got:
                    follower.stop_event.set()
            await producing
        return got

    assert asyncio.run(asyncio.wait_for(main(), timeout=30)) == ["async one"]


def test_watch_on_a_list_that_does_not_exist_yet(home: Path) -> None:
    with watching(home, "--json", session="early-bird") as watcher:
        tid = tl(home, "create", "first ever", session="maker").stdout.strip()
        assert json.loads(watcher.next())["task"] == tid
    assert os.path.isdir(data_dir(home) / "logs")


#: a long-lived writer that dies: what its passes confirmed is carried, never written
DIES_CARRYING = """
import os, sys
import ledger._carry
ledger._carry.FLUSH_S = 1e9
from ledger import Edits, Ledger
ledger = Ledger.open(sys.argv[1], "main", "alice")
for n in range(5):
    ledger.create(Edits(subject=f"task {n}"))
ledger.materialize()
assert ledger._carry, "nothing carried: the test would prove nothing"
os._exit(0)
"""

#: ``taskledger`` whose long-lived Ledger writes what it carries only at exit
CARRIES_TO_EXIT = """
import sys
import ledger._carry
ledger._carry.FLUSH_S = 1e9
sys.argv = ["taskledger", *sys.argv[1:]]
from cli._main import main
main()
"""


def test_a_stopped_watcher_writes_what_it_carried(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", DIES_CARRYING, str(home)], env=proc_env(home), check=True,
        timeout=120,
    )  # fmt: skip
    layout = Layout.of(home, "main")
    old = time.time() - 3600  # the files are old: a pass without the lock may carry them
    for path in (home / "main").glob("*.json"):
        os.utime(path, (old, old))
    assert not settled(layout)  # nobody wrote the stats: every reader would compare
    watcher = Watcher(home, argv=[sys.executable, "-c", CARRIES_TO_EXIT])
    watcher.wait_live("watcher")  # (its first pass is over before it goes live)
    assert not settled(layout)  # the watcher carries what it confirmed
    assert watcher.stop() == 0, watcher.errors
    assert settled(layout), watcher.errors  # ... and wrote it as it stopped


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sigterm_stops_a_watch_even_when_its_interrupt_is_swallowed() -> None:
    """SIGTERM raises KeyboardInterrupt wherever the watch is; raised inside a
    finalizer the collector runs, it is printed and dropped, and the watch would go
    on: the handler also sets the event the follower stops on."""
    from cli._options import stop_on_sigterm

    old = signal.getsignal(signal.SIGTERM)
    try:
        stop = stop_on_sigterm()

        class Finalized:
            def __del__(self) -> None:
                os.kill(os.getpid(), signal.SIGTERM)
                sum(range(10_000))  # (the handler runs here, inside the finalizer)

        Finalized()  # dropped at once: its KeyboardInterrupt goes nowhere
        assert stop.is_set()
    finally:
        signal.signal(signal.SIGTERM, old)
