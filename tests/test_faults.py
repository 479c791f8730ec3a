"""SPEC section 6: damaged folders and files get a clear message, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Run


def ledger_dir(home: Path) -> Path:
    return home / "main" / ".ledger"


def test_a_corrupt_or_foreign_view_is_ignored(run: Run, home: Path) -> None:
    tid = run("create", "survives").stdout.strip()
    view = ledger_dir(home) / "cache" / "view.json"
    for damage in (b"{not json", b'{"v": 999}', json.dumps({"v": 1, "tasks": 5}).encode(), b""):
        view.write_bytes(damage)
        assert [t["id"] for t in run.json("list")] == [tid]  # type: ignore[union-attr,index]
    view.unlink()
    (ledger_dir(home) / "cache").rmdir()
    assert run.json("show", tid)["subject"] == "survives"  # type: ignore[index]


def test_a_damaged_writer_marker_is_named(run: Run, home: Path) -> None:
    tid = run("create", "x", session="alice").stdout.strip()
    marker = ledger_dir(home) / "writers" / "alice"
    marker.write_bytes(b"\xff\xfe garbage")
    result = run("note", tid, "hi", session="alice")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot read this session's writer from ")
    marker.write_text("not-hex\n")
    result = run("note", tid, "hi", session="alice")
    assert result.exit_code == 1
    assert "does not hold a writer id; remove it to start a new writer" in result.stderr
    marker.unlink()
    assert run("note", tid, "hi", session="alice").exit_code == 0
    assert run("verify").exit_code == 0


def test_a_ledger_folder_that_is_a_file(run: Run, home: Path) -> None:
    (home / "main").mkdir()
    (home / "main" / ".ledger").write_text("oops")
    result = run("list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot list the logs in ")
    result = run("create", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr


def test_a_directory_named_like_a_log_is_ignored(run: Run, home: Path) -> None:
    tid = run("create", "x").stdout.strip()
    (ledger_dir(home) / "logs" / "ghost.0000000000001.jsonl").mkdir()
    assert [t["id"] for t in run.json("list")] == [tid]  # type: ignore[union-attr,index]
    assert run("verify").exit_code == 0


def test_garbage_everywhere_in_a_log_never_stops_a_replay(run: Run, home: Path) -> None:
    tid = run("create", "kept").stdout.strip()
    (log,) = (ledger_dir(home) / "logs").iterdir()
    good = log.read_bytes()
    nested = b"[" * 100_000 + b"]" * 100_000
    log.write_bytes(b"\x00\xff\xfe\n" + nested + b"\n" + good + b"{}\n" + b'{"v":1,"seq":"x"}\n')
    result = run("list", "--json")
    assert result.exit_code == 0
    assert [t["id"] for t in json.loads(result.stdout)] == [tid]
    assert result.stderr.count("warning: ") == 4
    verified = run("verify")
    assert verified.exit_code == 1
    assert "Traceback" not in verified.stderr


def test_a_huge_field_is_refused_clearly(run: Run) -> None:
    tid = run("create", "x").stdout.strip()
    result = run("note", tid, "n" * 100_001)
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: note is 100,001 characters long; the limit is 100,000\n",
    )
    result = run("update", tid, "--meta", "k=" + "v" * 100_000)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: metadata 'k' is 100,002 characters long")


def test_description_from_stdin(run: Run) -> None:
    tid = run("create", "x", "-d", "-", input="from\nstdin\n").stdout.strip()
    assert run.json("show", tid)["description"] == "from\nstdin\n"  # type: ignore[index]
