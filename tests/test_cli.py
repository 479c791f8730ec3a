"""The command line: every command, its --json, its errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli._main import cli
from tests.conftest import Run, data_dir


def create(run: Run, *args: str, session: str = "tester") -> str:
    result = run("create", *args, session=session)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_create_prints_the_full_id_and_list_shows_it(run: Run) -> None:
    tid = create(run, "Write the spec", "-d", "details", "--meta", "prio=high")
    assert len(tid) == 16 and int(tid, 16) >= 0
    listing = run("list")
    assert listing.exit_code == 0
    header, row = listing.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "OWNER", "SUBJECT"]
    assert row.split()[:3] == [tid[:4], "pending", "-"]
    assert row.endswith("Write the spec")


def test_create_json_is_the_task(run: Run) -> None:
    task = run.json("create", "A task", "--active-form", "Doing it", "--meta", "k=v")
    assert isinstance(task, dict)
    assert list(task)[:9] == [
        "id", "subject", "description", "activeForm", "status", "owner",
        "blocks", "blockedBy", "metadata",
    ]  # fmt: skip
    assert task["activeForm"] == "Doing it"
    assert task["metadata"] == {"k": "v"}
    assert task["status"] == "pending"
    assert task["created"]["session"] == "tester"


def test_show_lists_notes_and_provenance(run: Run) -> None:
    tid = create(run, "Handoff me", "-d", "line one\nline two")
    assert run("note", tid[:6], "picked up where bob left", session="alice").exit_code == 0
    result = run("show", tid[:4])
    assert result.exit_code == 0
    out = result.stdout
    assert f"{tid}  ({tid[:4]})" in out
    assert "description:\n  line one\n  line two" in out
    assert "alice:\n    picked up where bob left" in out
    assert "by alice" in out  # updated by
    shown = run.json("show", tid)
    assert isinstance(shown, dict)
    assert [n["text"] for n in shown["notes"]] == ["picked up where bob left"]
    assert shown["updated"]["session"] == "alice"


def test_update_changes_only_the_named_fields(run: Run) -> None:
    tid = create(run, "Subject", "-d", "desc")
    result = run("update", tid, "--status", "in_progress", "--owner", "alice")
    assert result.exit_code == 0, result.output
    task = run.json("show", tid)
    assert isinstance(task, dict)
    assert (task["status"], task["owner"], task["subject"], task["description"]) == (
        "in_progress", "alice", "Subject", "desc",
    )  # fmt: skip
    (last,) = [
        json.loads(x) for x in run("history", tid, "--json", "--limit", "1").stdout.splitlines()
    ]
    assert set(last["fields"]) == {"status", "owner"}


def test_dependencies_are_derived_both_ways_and_ready_follows_them(run: Run) -> None:
    a = create(run, "first")
    b = create(run, "second", "--blocked-by", a[:5])
    c = create(run, "third", "--blocks", b)
    shown_b = run.json("show", b)
    assert isinstance(shown_b, dict)
    assert shown_b["blockedBy"] == [a, c]
    assert run.json("show", a)["blocks"] == [b]  # type: ignore[index]
    ready = run.json("ready")
    assert [t["id"] for t in ready] == [a, c]  # type: ignore[union-attr,index]
    run("update", a, "--status", "completed")
    run("update", c, "--status", "completed")
    assert [t["id"] for t in run.json("ready")] == [b]  # type: ignore[union-attr,index]
    assert run("update", b, "--remove-blocked-by", a).exit_code == 0
    assert run.json("show", b)["blockedBy"] == [c]  # type: ignore[index]


def test_cycles_and_missing_targets_are_refused(run: Run) -> None:
    a = create(run, "a")
    b = create(run, "b", "--blocked-by", a)
    result = run("update", a, "--add-blocked-by", b)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {b[:4]} -> {a[:4]} would create a cycle\n"
    result = run("update", a, "--add-blocked-by", a)
    assert (result.exit_code, result.stderr) == (1, "Error: a task cannot depend on itself\n")
    result = run("create", "c", "--blocked-by", "ffffffff")
    assert (result.exit_code, result.stderr) == (1, "Error: no task matches 'ffffffff'\n")
    assert len(run.json("list")) == 2  # type: ignore[arg-type]


def test_unknown_and_ambiguous_ids(run: Run, home: Path) -> None:
    result = run("show", "0123")
    assert (result.exit_code, result.stderr) == (1, "Error: no task matches '0123'\n")
    result = run("show", "not-hex!")
    assert (result.exit_code, result.stderr) == (1, "Error: no task matches 'not-hex!'\n")
    ids = [create(run, f"t{i}") for i in range(40)]
    first = {}
    for i in ids:
        first.setdefault(i[0], []).append(i)
    prefix, matching = next((p, m) for p, m in first.items() if len(m) > 1)
    result = run("show", prefix)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: id prefix '{prefix}' is ambiguous: it matches ")
    for tid in matching:
        assert tid in result.stderr


def test_delete_hides_the_task_and_removes_its_file(run: Run, home: Path) -> None:
    tid = create(run, "doomed")
    assert (home / "main" / f"{tid}.json").exists()
    result = run("delete", tid)
    assert result.exit_code == 0
    assert run.json("list") == []
    assert not (home / "main" / f"{tid}.json").exists()
    assert [t["id"] for t in run.json("list", "--all")] == [tid]  # type: ignore[union-attr,index]
    result = run("update", tid, "--status", "completed")
    assert (result.exit_code, result.stderr) == (1, f"Error: task {tid[:4]} is deleted\n")
    kinds = [json.loads(x)["op"] for x in run("history", tid, "--json").stdout.splitlines()]
    assert kinds == ["create", "delete"]


def test_list_filters(run: Run) -> None:
    a = create(run, "a")
    b = create(run, "b")
    run("update", b, "--status", "in_progress", "--owner", "bob")
    assert [t["id"] for t in run.json("list", "--status", "in_progress")] == [b]  # type: ignore[union-attr,index]
    assert [t["id"] for t in run.json("list", "--owner", "bob")] == [b]  # type: ignore[union-attr,index]
    assert [t["id"] for t in run.json("list", "--ready")] == [a]  # type: ignore[union-attr,index]


def test_history_lines_and_filters(run: Run) -> None:
    tid = create(run, "audited", session="alice")
    run("update", tid, "--subject", "renamed", session="bob")
    run("note", tid, "hello", session="carol")
    out = run("history", tid).stdout.splitlines()
    assert out[0].split() == ["TIME", "SESSION", "OP", "TASK", "SUBJECT", "CHANGES"]
    assert "alice" in out[1] and "create" in out[1] and "subject=audited" in out[1]
    assert "bob" in out[2] and "subject: audited → renamed" in out[2]
    assert "carol" in out[3] and "note hello" in out[3]
    only_bob = run("history", "--session", "bob", "--json").stdout.splitlines()
    assert [json.loads(x)["session"] for x in only_bob] == ["bob"]
    assert len(run("history", "--since", "1h", "--json").stdout.splitlines()) == 3
    assert run("history", "--since", "2999-01-01", "--json").stdout == ""
    # a time that cannot be read is a bad option value like any other: exit 2 (issue 12)
    result = run("history", "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert "Invalid value for '--since': cannot read 'yesterday-ish' as a time" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--list", "../x"], "Invalid value for '--list': invalid list id '../x'"),
        (["list", "--list", ".hidden"], "Invalid value for '--list'"),
        (["list", "--list", "a" * 65], "Invalid value for '--list'"),
        (["list", "--session", "a/b"], "Invalid value for '--session'"),
        (["list", "--session", ""], "Invalid value for '--session'"),
        (["create"], "Missing argument 'SUBJECT'"),
        (["update", "abcd"], "nothing to update"),
        (["update", "abcd", "--status", "done"], "Invalid value for '--status'"),
        (["create", "x", "--meta", "novalue"], "'novalue' is not KEY=VALUE"),
        (["history", "--limit", "-1"], "Invalid value for '--limit'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, home: Path, args: list[str], message: str) -> None:
    result = runner.invoke(cli, [*args, "--home", str(home)], catch_exceptions=False)
    assert result.exit_code == 2
    assert message in result.stderr


def test_bad_list_in_the_environment_is_a_usage_error(runner: CliRunner, home: Path) -> None:
    result = runner.invoke(
        cli, ["list", "--home", str(home)], env={"CLAUDE_CODE_TASK_LIST_ID": "../../etc"}
    )
    assert result.exit_code == 2
    assert "invalid list id '../../etc'" in result.stderr
    assert not (home.parent / "etc").exists()


def test_environment_fallbacks(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "claude-config"
    env = {
        "CLAUDE_CONFIG_DIR": str(config),
        "CLAUDE_CODE_TASK_LIST_ID": "proj",
        "TASKLEDGER_SESSION": "envy",
    }
    result = runner.invoke(cli, ["create", "from env", "--json"], env=env)
    assert result.exit_code == 0, result.output
    task = json.loads(result.stdout)
    assert (config / "tasks" / "proj" / f"{task['id']}.json").exists()
    assert task["created"]["session"] == "envy"
    env["TASKLEDGER_HOME"] = str(tmp_path / "explicit")
    env["TASKLEDGER_LIST"] = "other"
    runner.invoke(cli, ["create", "elsewhere"], env=env)
    assert list((tmp_path / "explicit" / "other").glob("*.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x" * 1001], "subject is 1,001 characters long; the limit is 1,000"),
        (["create", "   "], "subject must not be empty"),
        (["create", "two\nlines"], "subject must be a single line"),
        (
            ["create", "ok", "-d", "y" * 200_001],
            "description is 200,001 characters long; the limit is 200,000",
        ),
        (["create", "bad \udcff text"], "subject is not valid UTF-8 text"),
        (["create", "ok", "--meta", "=v"], None),
    ],
)
def test_bad_values_exit_1_without_writing(
    run: Run, home: Path, args: list[str], message: str | None
) -> None:
    result = run(*args)
    if message is None:
        assert result.exit_code == 2
        return
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"
    assert not (data_dir(home) / "logs").exists()


def test_version_and_help(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["--version"]).stdout.startswith("taskledger, version ")
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("create", "list", "show", "update", "note", "delete", "ready", "history",
                 "materialize", "verify"):  # fmt: skip
        assert f"  {name} " in result.stdout


def test_reads_do_not_create_a_list(run: Run, home: Path) -> None:
    assert run("list").exit_code == 0
    assert run.json("list") == []
    assert not (home / "main").exists()
