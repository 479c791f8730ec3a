"""The documentation says what the code does: every command and option is in
docs/cli.md, and the README claims only what holds (issue 12, item 18)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from cli._main import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = (ROOT / "docs" / "cli.md").read_text()


def sections() -> dict[str, str]:
    """docs/cli.md's command sections: heading command -> text up to the next heading."""
    parts = re.split(r"^### `", CLI_MD, flags=re.M)[1:]
    out: dict[str, str] = {}
    for part in parts:
        name = part.split()[0].strip("`")
        out[name] = out.get(name, "") + part
    return out


def test_every_command_and_option_is_documented() -> None:
    documented = sections()
    ctx = click.Context(cli)
    missing = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        text = documented.get(name)
        if text is None:
            missing.append(name)
            continue
        shared = {"--home", "--list", "--session", "--json", "--help"}
        parts = [command]
        if isinstance(command, click.Group):
            parts += [command.commands[n] for n in command.commands]
            missing += [f"{name} {n}" for n in command.commands if f"{name} {n}" not in text]
        for part in parts:
            for param in part.params:
                for opt in getattr(param, "opts", []):
                    if opt.startswith("--") and opt not in shared and opt not in text:
                        missing.append(f"{name} {opt}")
    assert not missing, missing


def test_the_shared_options_are_described_as_they_are() -> None:
    ctx = click.Context(cli)
    without = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        if not {"--home", "--list", "--json"} <= opts:
            without.append(name)
    readme = (ROOT / "README.md").read_text()
    assert "every command takes" not in readme.lower() or all(w in readme for w in without)
    for name in without:
        assert name in CLI_MD.split("## Commands")[0], f"docs/cli.md must say {name} differs"
