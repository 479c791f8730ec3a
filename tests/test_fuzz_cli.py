"""No argument list makes the CLI print a traceback or exit outside 0/1/2/3."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli._main import COMMANDS, cli

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
    # demo spawns processes and watch runs until stopped: both are tested on their own
    command=st.sampled_from(sorted(set(COMMANDS) - {"demo", "watch"})),
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
