"""verify: damage and tampering are found and named by file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Run, data_dir


@pytest.fixture
def log(run: Run, home: Path) -> Path:
    """A ledger of one session: five records in one log."""
    tid = run("create", "audited", session="alice").stdout.strip()
    for i in range(3):
        assert run("update", tid, "--meta", f"k={i}", session="alice").exit_code == 0
    run("note", tid, "done", session="alice")
    (path,) = (data_dir(home) / "logs").glob("alice.*.jsonl")
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def verify(run: Run) -> tuple[int, str, str]:
    result = run("verify")
    return result.exit_code, result.stdout, result.stderr


def test_a_clean_ledger_verifies(run: Run, log: Path) -> None:
    code, out, err = verify(run)
    assert (code, err) == (0, "")
    assert out == "OK: 1 log(s), 5 record(s), 0 error(s), 0 warning(s)\n"
    report = run.json("verify")
    assert report == {"ok": True, "files": 1, "records": 5, "problems": []}


def test_editing_one_byte_of_a_middle_record_is_found(run: Run, log: Path) -> None:
    data = lines(log)
    data[2] = data[2].replace(b'"k":{"old":"0","new":"1"', b'"k":{"old":"0","new":"7"')
    assert b'"new":"7"' in data[2]
    log.write_bytes(b"".join(data))
    code, out, err = verify(run)
    assert code == 1
    assert f"{log.name}:4: error: hash chain broken: prev does not match line 3" in out
    assert (
        f"{log.name}:3: error: update does not match its fields: "
        f'm:k:{log.name.split(".")[1]} holds "1", the fields claim "7"'
    ) in out
    # and the cache saw the log at another size and time: a log changed in place
    assert f"{log.name}: error: changed since the cache read it" in out
    assert err == "Error: verification failed with 3 error(s)\n"


def test_deleting_a_middle_record_is_found(run: Run, log: Path) -> None:
    data = lines(log)
    del data[2]
    log.write_bytes(b"".join(data))
    code, out, _ = verify(run)
    assert code == 1
    assert f"{log.name}:3: error: hash chain broken: prev does not match line 2" in out
    assert f"{log.name}:3: error: seq 4 follows seq 2" in out
    assert "seq 3 is missing; 2 later record(s) cannot be applied" in out


def test_reordering_two_records_is_found(run: Run, log: Path) -> None:
    data = lines(log)
    data[2], data[3] = data[3], data[2]
    log.write_bytes(b"".join(data))
    code, out, _ = verify(run)
    assert code == 1
    assert f"{log.name}:3: error: seq 4 follows seq 2" in out
    assert f"{log.name}:4: error: seq 3 follows seq 4" in out


def test_forging_a_records_session_is_found(run: Run, log: Path) -> None:
    data = lines(log)
    data[1] = data[1].replace(b'"session":"alice"', b'"session":"mallory"')
    log.write_bytes(b"".join(data))
    code, out, _ = verify(run)
    assert code == 1
    assert f"{log.name}:2: error: record claims session 'mallory'" in out
    assert f"{log.name}:3: error: hash chain broken" in out


def test_garbage_and_future_versions_are_errors_with_line_numbers(run: Run, log: Path) -> None:
    data = lines(log)
    future = json.loads(data[4])
    future["v"] = 2
    data.insert(1, b"this is not json\n")
    data.append(json.dumps(future).encode() + b"\n")
    log.write_bytes(b"".join(data))
    code, out, _ = verify(run)
    assert code == 1
    assert f"{log.name}:2: error: undecodable record: not JSON" in out
    assert f"{log.name}:7: error: undecodable record: unknown format version 2" in out
    # the replay still answers, skipping them with warnings
    result = run("list")
    assert result.exit_code == 0
    assert f"warning: {log.name}:2: not JSON, skipped" in result.stderr


def test_a_torn_last_line_alone_is_a_warning(run: Run, log: Path) -> None:
    with open(log, "ab") as fh:
        fh.write(b'{"v":1,"session":"alice","wri')
    code, out, _ = verify(run)
    assert code == 0
    assert f"{log.name}:6: warning: torn last line (a writer died mid-append)" in out
    # the next append terminates the fragment and starts afresh; still only a warning
    tid = run.json("list")[0]["id"]  # type: ignore[index]
    assert run("note", tid, "after the crash", session="alice").exit_code == 0
    code, out, _ = verify(run)
    assert code == 0, out
    assert f"{log.name}:6: warning: torn write left by a crashed writer (terminated)" in out
    assert "OK: 1 log(s), 6 record(s)" in out


def test_a_writer_id_used_by_two_files_is_found(run: Run, log: Path) -> None:
    copy = log.with_name(log.name.replace("alice.", "bob.", 1))
    shutil.copyfile(log, copy)
    code, out, _ = verify(run)
    assert code == 1
    writer = log.name.split(".")[1]
    assert f"{copy.name}: error: writer {writer} is also used by {log.name}" in out
    assert f"{copy.name}:1: error: record claims session 'alice'" in out


def test_an_update_that_does_more_than_its_fields_say_is_found(run: Run, log: Path) -> None:
    data = lines(log)
    record = json.loads(data[1])
    other = json.loads(data[2])
    # keep the line's own readable fields, but carry the next record's update
    record["updates"], record["clocks"] = other["updates"], other["clocks"]
    data[1] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(data))
    code, out, _ = verify(run)
    assert code == 1
    assert f"{log.name}:2: error: update does not match its fields" in out


def test_a_clean_ledger_of_10k_ops_verifies(run: Run, home: Path) -> None:
    from benchmarks._fixtures import bulk

    assert bulk(home, "main", 1000, 9) == 10_000
    code, out, err = verify(run)
    assert (code, err) == (0, "")
    assert out == "OK: 1 log(s), 10000 record(s), 0 error(s), 0 warning(s)\n"
