"""What this machine knows of the others: the remote a list syncs with, the machines
the last sync saw, and which writers are whose."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ._errors import StorageError, SyncError
from ._git import git
from ._layout import Layout, machine_id

MACHINES = "machines"


def own_writers(layout: Layout) -> list[str]:
    """This machine's writers of a list (from its writer markers; a damaged one is skipped)."""
    folder = layout.open("writers")
    if folder is None:
        return []
    found = []
    here = machine_id()
    with folder:
        for name in folder.names():
            try:
                data = folder.read(name, limit=4096) or b""
            except OSError:
                continue  # a planted link or FIFO, a folder: not a marker
            parts = data.decode(errors="replace").split()
            if parts and (len(parts) < 2 or parts[1] == here):
                found.append(parts[0])
    return found


def resolve_remote(remote: str) -> str:
    """A git URL or path; a named remote of the repository here is looked up."""
    if "/" in remote or ":" in remote or Path(remote).exists():
        return str(Path(remote).absolute()) if Path(remote).exists() else remote
    try:
        proc = subprocess.run(["git", "remote", "get-url", remote], capture_output=True,
                              timeout=30, check=False)  # fmt: skip
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        raise SyncError("sync needs git, and git is not installed") from exc
    if proc.returncode != 0:
        raise SyncError(
            f"{remote!r} is neither a git URL or path nor a remote of the repository here"
        )
    return proc.stdout.decode().strip()


def machines(layout: Layout) -> dict[str, dict[str, object]]:
    """The machines the last sync saw: machine id -> its manifest (writers, host, synced)."""
    repo = layout.root / "sync.git"
    if not (repo / "HEAD").exists():
        return {}
    try:
        ref = "refs/remotes/origin/list"
        listing = git(repo, "ls-tree", "-z", ref, f"{MACHINES}/").split(b"\0")
    except (SyncError, StorageError):
        return {}
    out = {}
    for item in listing:
        meta, _, path = item.partition(b"\t")
        parts = meta.split()
        if len(parts) != 3:
            continue
        try:
            raw = json.loads(git(repo, "cat-file", "blob", parts[2].decode()))
        except (SyncError, ValueError):
            continue
        if isinstance(raw, dict):
            out[path.decode(errors="replace").rsplit("/", 1)[-1].removesuffix(".json")] = raw
    return out


def last_remote(layout: Layout) -> str | None:
    """The remote this list last synced with, if any."""
    try:
        raw = json.loads((layout.root / "sync.json").read_text())
    except (OSError, ValueError):
        return None
    remote = raw.get("remote") if isinstance(raw, dict) else None
    return remote if isinstance(remote, str) and remote else None


def writer_machines(layout: Layout) -> dict[str, tuple[str, int | None]]:
    """Writer id -> (machine, when that machine last synced; None for this one)."""
    out: dict[str, tuple[str, int | None]] = {}
    for machine, manifest in machines(layout).items():
        synced = manifest.get("synced")
        writers = manifest.get("writers")
        for writer in writers if isinstance(writers, list) else []:
            if isinstance(writer, str):
                out[writer] = (machine, synced if type(synced) is int else None)
    here = machine_id()
    for writer in own_writers(layout):
        out[writer] = (here, None)
    return out
