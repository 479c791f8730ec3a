"""SPEC section 6: damaged folders and files get a clear message, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import Run, data_dir


def ledger_dir(home: Path) -> Path:
    return data_dir(home)


def test_a_corrupt_or_foreign_cache_is_ignored(run: Run, home: Path) -> None:
    tid = run("create", "survives", "-d", "text").stdout.strip()
    run("note", tid, "kept")
    cache = ledger_dir(home) / "cache"
    head = cache / "head.json"
    good = head.read_bytes()
    raw = json.loads(good)

    def damage_each(paths: list[Path], junk: list[bytes]) -> None:
        for path in paths:
            original = path.read_bytes()
            for bad in junk:
                path.write_bytes(bad)
                shown = run.json("show", tid)
                assert shown["subject"] == "survives", path  # type: ignore[index]
                assert [n["text"] for n in shown["notes"]] == ["kept"]  # type: ignore[index]
                path.write_bytes(original)
                head.write_bytes(good)

    junk = [b"", b"{not json", b"[" * 100_000, b'{"v": 999}', json.dumps({"v": 3}).encode()]
    damage_each([head], junk)
    damage_each(
        [head],
        [json.dumps({**raw, "logs": []}).encode(), json.dumps({**raw, "writers": 5}).encode()],
    )
    files = [cache / f"rows.{t}.json" for t in raw["rows"]] + [cache / f"edges.{raw['edges']}.json"]
    files += sorted((cache / "shards").iterdir())
    damage_each(files, [b"", b"{not json", b'{"tasks": [{"id": "../../etc"}]}'])
    for path in files:  # a file the head names, gone
        original = path.read_bytes()
        path.unlink()
        assert run.json("show", tid)["description"] == "text", path  # type: ignore[index]
        path.write_bytes(original)
        head.write_bytes(good)
    shutil.rmtree(cache)
    assert [t["id"] for t in run.json("list")] == [tid]  # type: ignore[union-attr,index]
    assert run("verify").exit_code == 0


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
    ledger_dir(home).parent.mkdir(parents=True)
    ledger_dir(home).write_text("oops")
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
    # the log was rewritten in place, not appended to: the cache notices and rebuilds
    assert "changed under the cache (logs only grow)" in result.stderr
    assert result.stderr.count("warning: ") == 5
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


def test_a_damaged_own_log_makes_the_session_start_a_new_writer(run: Run, home: Path) -> None:
    tid = run("create", "task one", session="alice").stdout.strip()
    run("update", tid, "--subject", "second", session="alice")
    run("update", tid, "--subject", "third", session="alice")
    (log,) = (ledger_dir(home) / "logs").glob("alice.*.jsonl")
    lines = log.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"v":1', b'"v":7', 1)  # seq 2 unreadable: seq 3 held back
    log.write_bytes(b"\n".join(lines))
    listed = run("list")
    assert (
        "seq 2 is missing or unreadable; 1 later record(s) of it are not applied" in listed.stderr
    )
    result = run("update", tid, "--status", "completed", session="alice")
    assert result.exit_code == 0, result.output
    assert "cannot append safely: seq 2 of its log is missing or unreadable" in result.stderr
    assert "continues with new writer" in result.stderr
    assert run.json("show", tid)["status"] == "completed"  # type: ignore[index]
    assert len(list((ledger_dir(home) / "logs").glob("alice.*.jsonl"))) == 2
    assert run("note", tid, "and on", session="alice").exit_code == 0
    assert len(run.json("show", tid)["notes"]) == 1  # type: ignore[arg-type]


def test_a_record_with_an_unpaired_surrogate_is_skipped(run: Run, home: Path) -> None:
    tid = run("create", "fine").stdout.strip()
    (log,) = (ledger_dir(home) / "logs").iterdir()
    line = log.read_bytes().splitlines()[0]
    evil = line.replace(b'"new":"fine"', b'"new":"\\ud800"')
    (log.parent / "evil.0000000000007.jsonl").write_bytes(evil.replace(b"tester", b"evil") + b"\n")
    first = run("list")
    assert "invalid Unicode (an unpaired surrogate escape), skipped" in first.stderr
    for args in (["list", "--json"], ["history"], ["show", tid], ["materialize"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)


def test_a_forged_task_key_never_becomes_a_task_or_a_file(run: Run, home: Path) -> None:
    import base64

    from pycrdt import Doc, Map

    from ledger._log import GENESIS, Record, encode_record
    from ledger._model import Hlc

    run("create", "real")
    doc: Doc = Doc(client_id=7)
    root = doc.get("tasks", type=Map)
    updates: list[bytes] = []
    sub = doc.observe(lambda e: updates.append(e.update))
    with doc.transaction():
        forged: Map = Map()
        root["../../../escape"] = forged
        forged["c:0000000000007"] = '[null,1,0,"evil",1,1]'
        forged["f:subject:0000000000007"] = '["pwned",1,0,"evil",1,1]'
    doc.unobserve(sub)
    record = Record(
        "evil", "0000000000007", 1, Hlc(1), "t", "create", "0" * 16, {},
        {"00": base64.b64encode(updates[0]).decode()}, {"00": 3}, GENESIS,
    )  # fmt: skip
    (ledger_dir(home) / "logs" / "evil.0000000000007.jsonl").write_bytes(
        encode_record(record) + b"\n"
    )
    assert [t["subject"] for t in run.json("list")] == ["real"]  # type: ignore[union-attr,index]
    assert run("materialize").exit_code == 0
    assert not list(home.parent.rglob("escape*"))


def test_history_does_not_need_a_valid_acting_session(runner, home: Path) -> None:  # type: ignore[no-untyped-def]
    from cli._main import cli

    result = runner.invoke(
        cli, ["history", "--home", str(home)], env={"TASKLEDGER_SESSION": "../x"}
    )
    assert result.exit_code == 0


def test_absurd_times_are_refused_clearly(run: Run) -> None:
    result = run("history", "--since", "9" * 400 + "m")
    assert result.exit_code == 2  # a bad option value (issue 12)
    assert "Invalid value for '--since': cannot read " in result.stderr
