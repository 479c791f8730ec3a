"""Records: encode -> append -> read back, the hash chain, torn tails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ledger._log as log
from ledger._append import Appender
from ledger._fs import Dir
from ledger._log import (
    GENESIS,
    TORN_MARK,
    BadRecord,
    Cursor,
    Record,
    UnknownVersion,
    digest,
    encode_record,
    parse_record,
)
from ledger._model import Hlc

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)

records = st.builds(
    Record,
    session=st.from_regex(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,20}", fullmatch=True),
    writer=st.from_regex(r"[0-9a-f]{13}", fullmatch=True),
    seq=st.integers(1, 2**40),
    hlc=st.builds(Hlc, st.integers(0, 2**53 - 1), st.integers(0, 2**31)),
    at=st.text(max_size=30),
    kind=st.sampled_from(["create", "update", "note", "delete", "claim", "release"]),
    task=st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
    fields=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    updates=st.dictionaries(
        st.from_regex(r"[0-9a-f]{2}", fullmatch=True), st.just("AAA="), min_size=1, max_size=2
    ),
    clocks=st.just({}),
    prev=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
).map(lambda r: r._replace(clocks=dict.fromkeys(r.updates, 1)))


@given(records)
def test_record_round_trips(record: Record) -> None:
    line = encode_record(record)
    assert b"\n" not in line
    assert parse_record(line) == record


@given(st.lists(records, min_size=1, max_size=5))
def test_append_then_read_back(
    tmp_path_factory: pytest.TempPathFactory, batch: list[Record]
) -> None:
    path = tmp_path_factory.mktemp("log") / "s.0000000000001.jsonl"
    with Dir.open(path.parent, path.parent) as folder, Appender(folder, path.name) as appender:
        for record in batch:
            appender.append(encode_record(record))
    cursor = Cursor()
    with Dir.open(path.parent, path.parent) as folder:
        back = [parse_record(line.data) for line in cursor.read(folder, path.name)]
    assert back == batch
    assert cursor.tail == 0
    assert cursor.offset == path.stat().st_size


def test_reader_keeps_line_numbers_across_small_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log, "_CHUNK", 7)
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"first line\nsecond\n\nfourth, long enough to span chunks\npartial")
    cursor = Cursor()
    folder = Dir.open(path.parent, path.parent)
    assert folder is not None
    lines = list(cursor.read(folder, path.name))
    assert [(ln.number, ln.data) for ln in lines] == [
        (1, b"first line"),
        (2, b"second"),
        (3, b""),
        (4, b"fourth, long enough to span chunks"),
    ]
    assert [ln.offset for ln in lines] == [0, 11, 18, 19]
    assert cursor.tail == len(b"partial")
    # the rest of the torn line arrives: it is read whole, with the next number
    with open(path, "ab") as fh:
        fh.write(b" now complete\n")
    again = list(cursor.read(folder, path.name))
    assert [(ln.number, ln.data) for ln in again] == [(5, b"partial now complete")]


def test_append_after_a_torn_tail_never_revives_it(tmp_path: Path) -> None:
    path = tmp_path / "s.0000000000001.jsonl"
    complete = encode_record(
        Record(
            "s",
            "0000000000001",
            1,
            Hlc(1),
            "t",
            "create",
            "0" * 16,
            {},
            {"00": "AA=="},
            {"00": 1},
            GENESIS,
        )
    )
    # A writer died after writing the whole record but before its newline:
    path.write_bytes(complete)
    with Dir.open(path.parent, path.parent) as folder, Appender(folder, path.name) as appender:
        appender.append(complete)
    data = path.read_bytes()
    assert data.startswith(complete + TORN_MARK)
    first, second = data.splitlines()
    with pytest.raises(BadRecord):
        parse_record(first)
    assert parse_record(second).seq == 1
    assert not data.endswith(b"\n\n")


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        (b"not json", BadRecord, "not JSON"),
        (b"[1, 2]", BadRecord, "not a JSON object"),
        (b'{"v": 2}', UnknownVersion, "unknown format version 2"),
        (b'{"v": 1}', BadRecord, "missing field"),
    ],
)
def test_bad_lines_are_named(line: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_record(line)


def test_every_field_is_type_checked() -> None:
    good = json.loads(
        encode_record(
            Record(
                "s",
                "0000000000001",
                1,
                Hlc(5),
                "t",
                "note",
                "0" * 16,
                {},
                {"ab": "AA=="},
                {"ab": 3},
                GENESIS,
            )
        )
    )
    parse_record(json.dumps(good).encode())
    for key, bad in [
        ("session", ""),
        ("writer", "XYZ"),
        ("seq", 0),
        ("seq", True),
        ("hlc", [1]),
        ("hlc", [2**64, 0]),
        ("op", "explode"),
        ("task", "../../etc"),
        ("fields", []),
        ("updates", {"zz": "AA=="}),
        ("clocks", {"ab": 1.5}),
        ("clocks", {}),
        ("prev", "abc"),
    ]:
        with pytest.raises(BadRecord):
            parse_record(json.dumps({**good, key: bad}).encode())


def test_digest_is_sha256_of_the_line() -> None:
    assert digest(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
