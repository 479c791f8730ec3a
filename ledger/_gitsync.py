"""``sync``: exchange a list's logs with a git remote, never with a merge.

The remote holds one branch per list, ``taskledger/<view-id>``, whose tree
is flat: every log file under its own name, and ``machines/<machine>.json``
(which writers live on that machine, and when it last synced). Only logs
travel, never derived files.

A sync, under this machine's lock of the list's sync folder (a ``flock``,
released with the process):

1. fetches the branch into a bare repository of the ledger's own
   (``<data>/<list>/sync.git``); a remote that is unreachable is a
   ``SyncError`` and nothing changes;
2. for every remote log, files the records this replica does not have
   through ``receive`` -- the same checks as every local record: strict
   parsing, the writer's seq order, the hash chain -- and never changes a
   local record: a remote log that no longer extends what was read from it
   before (a byte changed, a record removed), or a branch whose history was
   rewritten, is reported and the local copy is kept;
3. writes a tree of the union -- each log as the longer of the local and the
   remote copy when one extends the other, the remote one otherwise -- and
   commits it on top of the fetched head, so the push is a fast-forward;
4. pushes; when another machine pushed first, the push is refused and the
   sync starts again from 1 (with its newer head), so git never merges.

Every log has exactly one writer on one machine (``writer_of``: the writer
id is per machine, so one session name on two machines gives two logs), and
the only files that change on the branch are logs that grew, so nothing two
machines write can ever conflict.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from ._datatype import datatype, field
from ._errors import SyncError
from ._fs import Dir
from ._git import git
from ._ids import parse_log_name
from ._layout import Layout, machine_id, scan_logs
from ._machines import MACHINES, own_writers, resolve_remote
from ._sync import receive

BRANCH = "taskledger/{view}"
_ATTEMPTS = 20


@datatype
class Synced:
    """What one sync did.

    Attributes:
        received: records filed into local logs.
        sent: log files whose new records were pushed.
        problems: remote logs or history found rewritten (the local copies are kept).
        attempts: fetch-and-push rounds it took (another machine pushing first).
    """

    received: int = 0
    sent: int = 0
    problems: list[str] = field(default_factory=list)
    attempts: int = 0


class GitSync:
    """The sync of one list with one remote (see the module).

    Args:
        layout: the list.
        remote: a git URL or path (a named remote of the repository in the
            current folder works too: ``origin``).
    """

    def __init__(self, layout: Layout, remote: str) -> None:
        self.layout = layout
        self.remote = resolve_remote(remote)
        self.ref = f"refs/heads/{BRANCH.format(view=layout.view_id)}"
        self.repo = layout.root / "sync.git"
        self.state_path = layout.root / "sync.json"

    # ------------------------------------------------------------- state

    def _load(self) -> dict[str, object]:
        try:
            raw = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return raw if isinstance(raw, dict) else {}

    def _save(self, state: dict[str, object]) -> None:
        folder = Dir.open(self.layout.root, self.layout.data, create=True)
        assert folder is not None
        with folder:
            folder.write_atomic("sync.json", json.dumps(state, indent=2).encode())

    # --------------------------------------------------------------- run

    def run(self) -> Synced:
        """One sync (raises SyncError when the remote cannot be reached or refuses)."""
        out = Synced()
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.layout.root / "sync.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not (self.repo / "HEAD").exists():
                git(self.repo, "init", "--quiet", "--bare")
            state = self._load()
            for attempt in range(1, _ATTEMPTS + 1):
                out.attempts = attempt
                head = self._fetch()
                self._check_history(head, state, out)
                remote = self._remote_tree(head)
                self._take(remote, state, out)
                commit = self._commit(remote, head, out)
                if commit is None or self._push(commit, head):
                    state["head"] = commit or head
                    state["at"] = time.time_ns() // 1_000_000
                    state["remote"] = self.remote
                    self._save(state)
                    return out
                time.sleep(min(0.05 * attempt, 0.5))
            raise SyncError(f"the remote kept moving: gave up after {_ATTEMPTS} attempts")
        finally:
            os.close(fd)

    def _fetch(self) -> str | None:
        """The remote branch's head after fetching it (None: the branch does not exist yet)."""
        local = "refs/remotes/origin/list"
        listed = git(self.repo, "ls-remote", self.remote, self.ref).split()
        if not listed:
            return None
        git(self.repo, "fetch", "--quiet", "--no-tags", self.remote, f"+{self.ref}:{local}")
        return git(self.repo, "rev-parse", local).decode().strip()

    def _check_history(self, head: str | None, state: dict[str, object], out: Synced) -> None:
        seen = state.get("head")
        if not isinstance(seen, str) or head is None or seen == head:
            return
        try:
            git(self.repo, "merge-base", "--is-ancestor", seen, head)
        except SyncError:
            out.problems.append(
                f"the remote branch's history was rewritten (it no longer contains {seen[:12]}); "
                "local records are kept and every log is compared record by record"
            )
            state.pop("blobs", None)

    def _remote_tree(self, head: str | None) -> dict[str, tuple[str, bytes]]:
        """The remote's files: name -> (blob id, bytes)."""
        if head is None:
            return {}
        listing = git(self.repo, "ls-tree", "-r", "-z", head).split(b"\0")
        entries: list[tuple[str, str]] = []
        for item in listing:
            meta, _, raw_path = item.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == b"blob":
                entries.append((raw_path.decode(errors="replace"), parts[2].decode()))
        contents = self._blobs([blob for _, blob in entries])
        return {name: (blob, contents[blob]) for name, blob in entries}

    def _blobs(self, ids: list[str]) -> dict[str, bytes]:
        """The contents of blobs, read with one ``git cat-file --batch``."""
        if not ids:
            return {}
        raw = git(self.repo, "cat-file", "--batch", data="".join(f"{i}\n" for i in ids).encode())
        out: dict[str, bytes] = {}
        at = 0
        while at < len(raw):
            end = raw.index(b"\n", at)
            header = raw[at:end].decode().split()
            if len(header) != 3:  # "<id> missing"
                at = end + 1
                continue
            blob, kind, size = header
            start = end + 1
            out[blob] = raw[start : start + int(size)]
            at = start + int(size) + 1
            del kind
        return out

    # ------------------------------------------------------- receiving

    def _take(
        self, remote: dict[str, tuple[str, bytes]], state: dict[str, object], out: Synced
    ) -> None:
        """File the records of remote logs this replica does not have."""
        blobs = state.get("blobs")
        done: dict[str, str] = dict(blobs) if isinstance(blobs, dict) else {}
        own = set(self._own_writers())
        for name, (blob, data) in sorted(remote.items()):
            owner = parse_log_name(name)
            if owner is None or done.get(name) == blob:
                continue
            if owner[1] in own:
                if not self._local(name).startswith(data):
                    out.problems.append(
                        f"remote log {name} of this machine's own writer is not what this "
                        "machine wrote; the local log is kept and pushed"
                    )
            else:
                out.received += self._receive(name, data, done.get(name), out)
            done[name] = blob
        state["blobs"] = done

    def _receive(self, name: str, data: bytes, before: str | None, out: Synced) -> int:
        """File one remote log's new records (only the bytes after what was read before)."""
        offset = 0
        if before is not None:
            try:
                known = self._blobs([before])[before]
            except (SyncError, KeyError, ValueError):
                known = b""
            if data.startswith(known):
                offset = len(known)
            else:
                out.problems.append(
                    f"remote log {name} no longer extends what was read from it before "
                    "(a record changed or removed there); the local copy is kept"
                )
        lines = (ln for ln in data[offset:].split(b"\n") if ln.strip())
        received = receive(self.layout, lines)
        out.problems += [f"remote log {name}: {r}" for r in received.rejected[:3]]
        return received.appended

    def _own_writers(self) -> list[str]:
        return own_writers(self.layout)

    def _local(self, name: str) -> bytes:
        folder = self.layout.open("logs")
        if folder is None:
            return b""
        with folder:
            return folder.read(name, limit=1 << 40) or b""

    # --------------------------------------------------------- sending

    def _commit(
        self, remote: dict[str, tuple[str, bytes]], head: str | None, out: Synced
    ) -> str | None:
        """A commit of the union on top of ``head``; None when the remote has it all."""
        folder = self.layout.open("logs")
        local_names = [] if folder is None else sorted(scan_logs(folder))
        if folder is not None:
            folder.close()
        entries = {path: blob for path, (blob, _) in remote.items()}
        changed = 0
        for name in local_names:
            data = self._local(name)
            theirs = remote.get(name)
            if theirs is not None and (theirs[1] == data or not data.startswith(theirs[1])):
                continue  # the same, or the remote's is longer or diverged (kept as it is)
            entries[name] = self._blob(data)
            changed += 1
        manifest = json.dumps(
            {"machine": machine_id(), "host": socket.gethostname(),
             "writers": sorted(self._own_writers()), "synced": time.time_ns() // 1_000_000},
            indent=2,
        ).encode()  # fmt: skip
        path = f"{MACHINES}/{machine_id()}.json"
        old = remote.get(path)
        if (
            changed == 0
            and head is not None
            and old is not None
            and _same_writers(old[1], manifest)
        ):
            return None
        entries[path] = self._blob(manifest)
        tree = self._tree(entries)
        parents = [] if head is None else ["-p", head]
        message = f"taskledger sync from {machine_id()}: {changed} log(s)".encode()
        commit = git(self.repo, "commit-tree", tree, *parents, data=message).decode().strip()
        out.sent = changed
        return commit

    def _tree(self, entries: dict[str, str]) -> str:
        """A tree of ``path -> blob`` (logs at the top, manifests one folder down)."""
        top: list[str] = []
        sub: dict[str, list[str]] = {}
        for path, blob in entries.items():
            folder, slash, name = path.rpartition("/")
            if slash:
                sub.setdefault(folder, []).append(f"100644 blob {blob}\t{name}\n")
            else:
                top.append(f"100644 blob {blob}\t{path}\n")
        for folder, listing in sub.items():
            tree = git(self.repo, "mktree", data="".join(listing).encode()).decode().strip()
            top.append(f"040000 tree {tree}\t{folder}\n")
        return git(self.repo, "mktree", data="".join(top).encode()).decode().strip()

    def _blob(self, data: bytes) -> str:
        return git(self.repo, "hash-object", "-w", "--stdin", data=data).decode().strip()

    def _push(self, commit: str, head: str | None) -> bool:
        """Push a fast-forward; False when the remote moved meanwhile (fetch again)."""
        lease = f"--force-with-lease={self.ref}:{head or ''}"
        try:
            git(self.repo, "push", "--quiet", "--no-verify", lease, self.remote,
                 f"{commit}:{self.ref}")  # fmt: skip
        except SyncError as exc:
            if any(
                w in str(exc) for w in ("stale info", "rejected", "fetch first", "fast-forward")
            ):
                return False  # another machine pushed first
            raise
        return True


def _same_writers(old: bytes, new: bytes) -> bool:
    try:
        return bool(json.loads(old).get("writers") == json.loads(new).get("writers"))
    except (ValueError, AttributeError):
        return False
