"""Living beside Claude Code's own task tools (issue 13): whatever they write is
recorded as ops and never reverted, and nothing they delete takes the ledger
with it. ``tests/claude_code.py`` is the model of Claude Code's store."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from ledger import Layout
from tests.claude_code import NEW, OLD, ClaudeCode
from tests.conftest import Run, proc_env, taskledger_argv

BUILDS = [OLD, NEW]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A Claude Code config folder: the home is its ``tasks/``."""
    path = tmp_path / "claude"
    (path / "tasks").mkdir(parents=True)
    return path


@pytest.fixture
def cli(config: Path) -> Run:
    from click.testing import CliRunner

    return Run(config / "tasks", CliRunner())


def history(cli: Run, *args: str) -> list[dict[str, object]]:
    result = cli("history", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def shown(cli: Run, ref: str) -> dict[str, object]:
    return cli.json("show", ref)  # type: ignore[return-value]


@pytest.mark.parametrize("build", BUILDS)
def test_a_native_update_is_recorded_and_survives_every_later_command(
    cli: Run, config: Path, build: str
) -> None:
    tid = cli("create", "ledger task", "-d", "one\ntwo\n").stdout.strip()
    cc = ClaudeCode(config, "main", build)
    assert cc.get(tid) is not None
    result = cc.update(tid, status="in_progress", owner="agent-7", metadata={"k": 1},
                       description="one\ntwo\nthree\n", activeForm="Working")  # fmt: skip
    assert result["success"]
    later = [("list",), ("show", tid), ("materialize",), ("update", tid, "--subject", "renamed"),
             ("note", tid, "n"), ("sessions",), ("verify",)]  # fmt: skip
    for args in later:
        assert cli(*args).exit_code == 0, args
        after = cc.get(tid)
        assert after is not None
        assert (after["status"], after["owner"], after["metadata"]["k"]) == (
            "in_progress",
            "agent-7",
            1,
        )
        assert after["description"] == "one\ntwo\nthree\n" and after["activeForm"] == "Working"
    task = shown(cli, tid)
    assert (task["status"], task["owner"], task["subject"]) == ("in_progress", "agent-7", "renamed")
    native = [o for o in history(cli, tid) if o["session"] == "claude-code"]
    assert len(native) == 1 and native[0]["op"] == "update"
    assert set(native[0]["fields"]) == {"status", "owner", "metadata", "description", "activeForm"}  # type: ignore[arg-type]


def test_a_native_update_survives_a_running_watch(cli: Run, config: Path) -> None:
    tid = cli("create", "watched").stdout.strip()
    home = config / "tasks"
    cc = ClaudeCode(config, "main", NEW)
    with subprocess.Popen(
        [*taskledger_argv(), "watch", "--json"], env=proc_env(home, TASKLEDGER_SESSION="w"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as watch:  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            n = 0
            while time.monotonic() < deadline:  # until the watcher has recorded one
                n += 1
                cc.update(tid, metadata={"round": n})
                time.sleep(0.2)
                if any(o["session"] == "claude-code" for o in history(cli, tid)):
                    break
            time.sleep(0.5)  # whatever the watcher does next, it must not revert the file
            assert cc.get(tid)["metadata"]["round"] == n  # type: ignore[index]
        finally:
            watch.terminate()
    assert shown(cli, tid)["metadata"] == {"round": n}


@pytest.mark.parametrize("build", BUILDS)
def test_a_native_create_is_listed_addressable_and_kept_in_step(
    cli: Run, config: Path, build: str
) -> None:
    cc = ClaudeCode(config, "main", build)
    first = cli("create", "from the ledger").stdout.strip()
    number = cc.create("from Claude Code", "body", metadata={"m": "v"})
    cc.update(number, addBlockedBy=[first])
    listed = cli.json("list")
    assert [t["subject"] for t in listed] == ["from the ledger", "from Claude Code"]  # type: ignore[index,union-attr]
    task = shown(cli, number)
    assert task["nativeId"] == number and task["blockedBy"] == [first]
    assert task["metadata"] == {"m": "v"} and task["description"] == "body"
    assert cli("update", number, "--status", "completed").exit_code == 0
    assert cc.get(number)["status"] == "completed"  # type: ignore[index]
    assert cc.get(first)["blocks"] == [number]  # type: ignore[index]
    creates = [o for o in history(cli) if o["op"] == "create"]
    assert [o["session"] for o in creates] == ["tester", "claude-code"]


@pytest.mark.parametrize("build", BUILDS)
def test_a_native_delete_stays_deleted(cli: Run, config: Path, build: str) -> None:
    cc = ClaudeCode(config, "main", build)
    keep = cli("create", "keep").stdout.strip()
    gone = cli("create", "gone", "--blocked-by", keep).stdout.strip()
    assert cc.update(gone, status="deleted")["success"]
    for args in (("list",), ("materialize",), ("update", keep, "--subject", "k2"), ("list",)):
        assert cli(*args).exit_code == 0
        assert cc.get(gone) is None
    assert [t["id"] for t in cli.json("list")] == [keep]  # type: ignore[index,union-attr]
    assert shown(cli, gone)["deleted"] is True
    assert [o["op"] for o in history(cli, gone)][-1] == "delete"


def test_ledger_ids_never_disturb_claude_codes_numbering(cli: Run, config: Path) -> None:
    for n in range(50):
        cli("create", f"ledger {n}")
    cc = ClaudeCode(config, "main", NEW)
    assert cc.create("first native") == "1"
    assert cc.create("second native") == "2"
    assert len(cli.json("list")) == 52  # type: ignore[arg-type]
    assert cc.create("third native") == "3"
    assert sorted(t["id"] for t in cc.list())[:3] == ["1", "2", "3"]


@pytest.mark.parametrize("build", BUILDS)
def test_the_panel_reset_hides_completed_tasks_and_loses_none(
    cli: Run, config: Path, build: str
) -> None:
    cc = ClaudeCode(config, "main", build)
    ids = [cli("create", f"t{n}").stdout.strip() for n in range(3)]
    native = cc.create("native")
    for ref in [*ids, native]:
        assert cli("update", ref, "--status", "completed").exit_code == 0
    assert cc.panel_reset()
    for _ in range(3):  # no wipe/restore loop
        assert cli("list").exit_code == 0
        assert cc.list() == []
    every = cli.json("list", "--all")
    assert len(every) == 4 and not any(t["deleted"] for t in every)  # type: ignore[index,arg-type,union-attr]
    assert cc.create("after the reset") == "2"  # the mark kept Claude Code's numbering going
    assert cli("update", ids[0], "--status", "pending").exit_code == 0  # a change shows it again
    assert cc.get(ids[0]) is not None


@pytest.mark.parametrize("how", ["rm -rf", "sweep", "team delete"])
def test_removing_the_list_folder_loses_nothing(cli: Run, config: Path, how: str) -> None:
    cc = ClaudeCode(config, "main", OLD if how == "team delete" else NEW)
    ids = [cli("create", f"t{n}").stdout.strip() for n in range(3)]
    cc.create("native")
    cli("note", ids[0], "kept")  # (a command, or a running watch or hook, saw the native task)
    if how == "sweep":
        assert cc.sweep(days=-1) == ["main"]  # everything is older than tomorrow
    else:
        cc.team_delete()
    assert not cc.folder.exists()
    every = cli.json("list", "--all")
    assert len(every) == 4 and not any(t["deleted"] for t in every)  # type: ignore[index,arg-type,union-attr]
    assert [n["text"] for n in shown(cli, ids[0])["notes"]] == ["kept"]  # type: ignore[index,union-attr]
    assert sorted(p.name for p in cc.folder.iterdir() if p.suffix == ".json") == sorted(
        [f"{i}.json" for i in ids] + ["1.json"]
    )
    assert cc.create("next") == "2"


def test_a_list_id_with_a_dot_is_one_folder(config: Path) -> None:
    from click.testing import CliRunner

    run = Run(config / "tasks", CliRunner())
    tid = run("create", "dotted", list_id="my.proj").stdout.strip()
    cc = ClaudeCode(config, "my.proj", NEW)
    assert cc.folder.name == "my-proj" and cc.get(tid) is not None
    number = cc.create("native")
    assert [t["subject"] for t in run.json("list", list_id="my.proj")] == ["dotted", "native"]  # type: ignore[index,union-attr]
    assert sorted(p.name for p in (config / "tasks").iterdir()) == ["my-proj"]
    assert Layout.of(config / "tasks", "my.proj").root.name == "my-proj"
    assert number == "1"


def test_an_existing_claude_code_list_is_adopted_and_says_so(cli: Run, config: Path) -> None:
    cc = ClaudeCode(config, "main", NEW)
    one = cc.create("design", "the api")
    two = cc.create("build")
    cc.update(two, addBlockedBy=[one], owner="agent-1", status="in_progress")
    result = cli("list")
    assert result.exit_code == 0
    assert "its 2 tasks are recorded" in result.stderr and "Claude Code" in result.stderr
    task = shown(cli, two)
    assert (task["owner"], task["status"], task["blockedBy"]) == (
        "agent-1",
        "in_progress",
        [shown(cli, one)["id"]],
    )
    assert cli("list").stderr == ""  # said once


def test_a_file_being_written_is_never_recorded_half(cli: Run, config: Path) -> None:
    tid = cli("create", "x", "-d", "long " * 100).stdout.strip()
    cc = ClaudeCode(config, "main", OLD)
    path = cc.path(tid)
    whole = path.read_bytes()
    for cut in (0, 1, len(whole) // 2, len(whole) - 1):
        path.write_bytes(whole[:cut])  # what an in-place write shows a reader mid-way
        assert cli("list").exit_code == 0
        assert shown(cli, tid)["deleted"] is False
        path.write_bytes(whole)
    lock = Path(f"{path}.lock")
    lock.mkdir()  # Claude Code holds the file's lock: the file is left for later
    data = json.loads(whole)
    path.write_text(json.dumps({**data, "subject": "half"}))
    assert cli("list").exit_code == 0
    lock.rmdir()
    assert cli("list").exit_code == 0
    assert shown(cli, tid)["subject"] == "half"
    assert [o["session"] for o in history(cli, tid)] == ["tester", "claude-code"]
