"""No argument list makes the CLI print a traceback or exit outside 0/1/2/3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli._main import COMMANDS, cli
from tests.conftest import data_dir

OPTIONS = [
    "--status", "--owner", "--subject", "-d", "--description", "--meta", "--unset-meta",
    "--add-blocked-by", "--remove-blocked-by", "--add-blocks", "--remove-blocks",
    "--blocked-by", "--blocks", "--active-form", "--since", "--limit", "--session",
    "--list", "--json", "--all", "--ready",
]  # fmt: skip
words = st.one_of(
    st.sampled_from(OPTIONS),
    st.sampled_from(["pending", "completed", "in_progress", "k=v", "=", "-", "10m", "0", "-1"]),
    st.text(max_size=12),
    st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True),
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    home = tmp_path_factory.mktemp("fuzz")
    runner = CliRunner()
    ids = []
    for n in range(3):
        result = runner.invoke(cli, ["create", f"t{n}", "--home", str(home), "--list", "f"])
        ids.append(result.stdout.strip())
    return home, ids


@settings(max_examples=150)
@given(
    # demo spawns processes; watch, mcp and board run until stopped: each is tested on its own
    command=st.sampled_from(sorted(set(COMMANDS) - {"demo", "watch", "mcp", "board"})),
    args=st.lists(words, max_size=6),
    data=st.data(),
)
def test_random_arguments_never_crash(
    seeded: tuple[Path, list[str]], command: str, args: list[str], data: st.DataObject
) -> None:
    home, ids = seeded
    if data.draw(st.booleans()):
        args = [data.draw(st.sampled_from([*ids, ids[0][:4]])), *args]
    result = CliRunner().invoke(
        cli, [command, *args, "--home", str(home), "--list", "f"], catch_exceptions=True
    )
    assert result.exit_code in (0, 1, 2, 3), result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


RECORD_KEYS = ["v", "session", "writer", "seq", "hlc", "at", "op", "task", "fields", "updates",
               "clocks", "prev"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
# What to append, independent of the ledger's random ids: raw bytes, a real
# record with one field replaced, or a real record cut short.
garbage_specs = st.lists(
    st.tuples(st.just("bytes"), st.binary(max_size=80))
    | st.tuples(st.just("mutate"), st.tuples(st.sampled_from(RECORD_KEYS), json_values))
    | st.tuples(st.just("cut"), st.integers(1, 999)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60)
@given(specs=garbage_specs)
def test_garbage_log_lines_never_crash_any_command(
    tmp_path_factory: pytest.TempPathFactory, specs: list[tuple[str, object]]
) -> None:
    home = tmp_path_factory.mktemp("garbage")
    runner = CliRunner()
    base = ["--home", str(home), "--list", "g"]
    tid = runner.invoke(cli, ["create", "real", *base]).stdout.strip()
    (log,) = (data_dir(home, "g") / "logs").iterdir()
    good = log.read_bytes().rstrip(b"\n")
    record = json.loads(good)
    lines = []
    for kind, spec in specs:
        if kind == "bytes":
            lines.append(bytes(spec).replace(b"\n", b" "))  # type: ignore[call-overload]
        elif kind == "mutate":
            key, value = spec  # type: ignore[misc]
            lines.append(json.dumps({**record, key: value}).encode())
        else:
            lines.append(good[: max(1, len(good) * int(spec) // 1000)])  # type: ignore[call-overload]
    log.with_name("mallory.0000000000abc.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    for args in (
        ["list"],
        ["show", tid],
        ["history"],
        ["verify"],
        ["conflicts"],
        ["note", tid, "x"],
    ):
        result = runner.invoke(cli, [*args, *base], catch_exceptions=True)
        assert result.exit_code in (0, 1, 2, 3), (args, result.output)
        if result.exception is not None:
            assert isinstance(result.exception, SystemExit), repr(result.exception)
