"""Running git: the ledger's one way to call it, with git's own words on failure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ._errors import SyncError

_GIT_TIMEOUT_S = 120


def git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    """Run git on the ledger's own bare repository (raises SyncError with git's words)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    env.setdefault("GIT_AUTHOR_NAME", "taskledger")
    env.setdefault("GIT_AUTHOR_EMAIL", "taskledger@localhost")
    env.setdefault("GIT_COMMITTER_NAME", "taskledger")
    env.setdefault("GIT_COMMITTER_EMAIL", "taskledger@localhost")
    try:
        proc = subprocess.run(
            ["git", "--git-dir", str(repo), *args], input=data, capture_output=True,
            timeout=_GIT_TIMEOUT_S, env=env, check=False,
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise SyncError("sync needs git, and git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise SyncError(f"git {args[0]} took longer than {_GIT_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        words = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SyncError(f"git {args[0]}: {words[-1] if words else 'failed'}")
    return proc.stdout
