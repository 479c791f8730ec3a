"""Planted symlinks and FIFOs, and the modes of what the ledger makes (issue 12,
items 2, 3 and 19).

A populated list is copied for every case; one path the ledger reads or
writes is replaced by a symlink to a folder outside (or by a FIFO), and every
command runs against it. Nothing outside may change, no command may block,
none may end in a traceback, and every create that exited 0 is in the list
once the plant is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from click.testing import CliRunner

from ledger import Layout
from tests.conftest import Run, proc_env, taskledger_argv

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")

NATIVE = {"id": "1", "subject": "native", "description": "", "status": "pending",
          "blocks": [], "blockedBy": []}  # fmt: skip


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry below a folder: mode and content digest (links not followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        body = ""
        if stat.S_ISREG(st.st_mode):
            body = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            body = os.readlink(path)
        out[str(path.relative_to(root))] = (st.st_mode, body)
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A list with tasks, an edge, a claim, notes, a cache, and a Claude Code task file."""
    base = tmp_path_factory.mktemp("template")
    home = base / "tasks"
    home.mkdir()
    run = Run(home, CliRunner())
    a = run("create", "alpha", session="alice").stdout.strip()
    b = run("create", "beta", "--blocked-by", a, session="alice").stdout.strip()
    assert run("claim", a, session="alice").exit_code == 0
    run("note", a, "hi", session="alice")
    layout = Layout.of(home, "main")
    (layout.view / "1.json").write_text(json.dumps(NATIVE, indent=2))
    (layout.view / ".highwatermark").write_text("1")
    assert run("list").exit_code == 0  # records the native task, writes the cache
    yield base, {"a": a, "b": b}


KINDS = [
    "data folder", "cache", "cache head", "cache rows", "cache edges", "cache shards",
    "shard state", "shard tasks", "claims", "claim folder", "claim file", "claim folder to come",
    "logs", "own log", "native log", "presence", "baselines", "baseline", "view stats",
    "file stats",
    "writers", "marker", "marker to come", "view", "highwatermark", "list lock",
    "native file", "native lock", "task file", "task lock",
]  # fmt: skip


def targets(base: Path, ids: dict[str, str]) -> dict[str, str]:
    """Per kind, one path the ledger reads or writes below the list's folders."""
    layout = Layout.of(base / "tasks", "main")
    root, view = layout.root, layout.view
    head = json.loads((root / "cache" / "head.json").read_text())
    shard, token = sorted(head["shards"].items())[0]
    a, b = ids["a"], ids["b"]
    paths = {
        "data folder": root, "cache": root / "cache", "cache head": root / "cache" / "head.json",
        "cache rows": root / "cache" / f"rows.{head['rows'][-1]}.json",
        "cache edges": root / "cache" / f"edges.{head['edges']}.json",
        "cache shards": root / "cache" / "shards",
        "shard state": root / "cache" / "shards" / f"{shard}.{token}.bin",
        "shard tasks": root / "cache" / "shards" / f"{shard}.{token}.json",
        "claims": root / "claims", "claim folder": root / "claims" / a,
        "claim file": sorted((root / "claims" / a).iterdir())[-1],
        "claim folder to come": root / "claims" / b,
        "logs": root / "logs", "own log": next((root / "logs").glob("alice.*")),
        "native log": next((root / "logs").glob("claude-code.*")),
        "presence": root / "presence", "baselines": root / "view",
        "baseline": root / "view" / f"{a}.txt", "view stats": root / "view" / "folder.json",
        "file stats": next((root / "view").glob("stats.*.json")),
        "writers": root / "writers", "marker": root / "writers" / "alice",
        "marker to come": root / "writers" / "newbie",
        "view": view, "highwatermark": view / ".highwatermark", "list lock": view / ".lock",
        "native file": view / "1.json", "native lock": view / "1.json.lock",
        "task file": view / f"{a}.json", "task lock": view / f"{a}.json.lock",
    }  # fmt: skip
    assert list(paths) == KINDS
    return {k: str(p.relative_to(base)) for k, p in paths.items()}


def commands(ids: dict[str, str]) -> list[tuple[str, tuple[str, ...]]]:
    a, b = ids["a"], ids["b"]
    return [
        ("alice", ("list",)),
        ("alice", ("show", a)),
        ("alice", ("create", "new one")),
        ("newbie", ("create", "by a new session")),
        ("alice", ("update", a, "--subject", "renamed", "--meta", "k=v")),
        ("alice", ("note", a, "more")),
        ("bob", ("claim", b, "--force")),
        ("alice", ("release", a)),
        ("carol", ("ready", "--claim")),
        ("alice", ("update", "1", "--status", "completed")),
        ("alice", ("delete", b, "--force")),
        ("alice", ("materialize",)),
        ("alice", ("history",)),
        ("alice", ("sessions",)),
        ("alice", ("conflicts",)),
        ("alice", ("blame", a)),
        ("alice", ("export",)),
        ("alice", ("verify",)),
    ]


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("a command blocked")


def run_all(home: Path, ids: dict[str, str]) -> list[str]:
    """Every command, each under a 30 s alarm; returns the ids that creates printed."""
    run = Run(home, CliRunner())
    created = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for session, args in commands(ids):
            signal.alarm(30)
            try:
                result = run(*args, session=session)
            finally:
                signal.alarm(0)
            assert result.exit_code in (0, 1, 3), (args, result.exit_code, result.output)
            assert "Traceback" not in result.output, (args, result.output)
            if result.exit_code == 1:
                assert result.stderr.startswith(("Error: ", "warning: ")), (args, result.stderr)
            if args[0] == "create" and result.exit_code == 0:
                created.append(result.stdout.strip())
    finally:
        signal.signal(signal.SIGALRM, old)
    return created


def replace(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def case(template: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    base, ids = template
    work = tmp_path / "work"
    shutil.copytree(base, work, symlinks=True)
    return work, ids


def check_created_survive(home: Path, created: list[str], ids: dict[str, str]) -> None:
    run = Run(home, CliRunner())
    listed = run("list", "--all", "--json", session="alice")
    assert listed.exit_code == 0, listed.output
    have = {t["id"] for t in json.loads(listed.stdout)}
    assert set(created) <= have


@pytest.mark.parametrize("kind", KINDS)
def test_a_planted_symlink_is_never_followed(
    template: tuple[Path, dict[str, str]], tmp_path: Path, kind: str
) -> None:
    name = targets(*template)[kind]
    work, ids = case(template, tmp_path)
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "folder" / "keep.txt").write_text("keep")
    (outside / "victim.json").write_text(json.dumps(NATIVE))
    target = work / name
    was_dir = target.is_dir()
    replace(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(outside / ("folder" if was_dir or not target.suffix else "victim.json"))
    before = tree(outside)
    created = run_all(work / "tasks", ids)
    assert tree(outside) == before, kind
    if target.is_symlink():  # (the ledger may have removed the link itself, never its target)
        target.unlink()
    check_created_survive(work / "tasks", created, ids)


@pytest.mark.parametrize("kind", KINDS)
def test_a_fifo_never_blocks_a_command(
    template: tuple[Path, dict[str, str]], tmp_path: Path, kind: str
) -> None:
    name = targets(*template)[kind]
    work, ids = case(template, tmp_path)
    target = work / name
    replace(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(target)
    created = run_all(work / "tasks", ids)
    if target.exists() and stat.S_ISFIFO(target.lstat().st_mode):
        target.unlink()
    check_created_survive(work / "tasks", created, ids)


def test_modes_are_chosen_not_left_to_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "tasks"

    def tl0(*args: str) -> str:
        proc = subprocess.run(
            [*taskledger_argv(), *args], env=proc_env(home, TASKLEDGER_SESSION="alice"),
            capture_output=True, text=True, timeout=120, umask=0,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    a = tl0("create", "x")
    tl0("claim", a)
    tl0("note", a, "n")
    tl0("list")
    layout = Layout.of(home, "main")
    for root in (layout.root, layout.view):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            want = 0o700 if path.is_dir() else 0o600
            assert mode == want, (path, oct(mode))
