"""``taskledger sync``: exchange a list's logs with a git remote, never with a merge."""

from __future__ import annotations

import threading

import click

from ledger import Ledger, SyncError

from ._options import Env, ledger_command, seconds_option, stop_on_sigterm
from ._output import clean, emit_json


def _report(env: Env, synced: object, remote: str) -> None:
    received, sent = getattr(synced, "received", 0), getattr(synced, "sent", 0)
    if env.as_json:
        emit_json({"remote": remote, "received": received, "sent": sent,
                   "problems": list(getattr(synced, "problems", []))})  # fmt: skip
    else:
        click.echo(f"synced with {clean(remote)}: {received} record(s) in, {sent} log(s) out")


@click.command()
@click.argument("remote", required=False)
@click.option("--watch", "keep", is_flag=True, help="Keep syncing every --interval seconds.")
@seconds_option("--interval", 0.05, 2.0, "How often --watch syncs.")
@ledger_command
def sync(env: Env, remote: str | None, keep: bool, interval: float) -> None:
    """Exchange this list's logs with a git REMOTE (a URL, a path, or a remote's name).

    Only logs travel, on the branch taskledger/<list> of the remote; every
    log has one writer on one machine, so git never merges and never
    conflicts (docs/sync.md). The remote is remembered: later syncs may omit it.
    """
    if not keep:
        synced = env.ledger.sync(remote)
        _report(env, synced, remote or "the last remote")
        if synced.problems:
            raise SyncError("the remote holds logs that were rewritten (see the warnings); "
                            "nothing local changed")  # fmt: skip
        return
    stop = stop_on_sigterm()
    try:
        while not stop.is_set():
            try:
                _report(env, env.ledger.sync(remote), remote or "the last remote")
            except SyncError as exc:
                click.echo(f"warning: {clean(str(exc))}", err=True)
            from ._options import flush_warnings

            flush_warnings(env.ledger)
            stop.wait(interval)
    except KeyboardInterrupt:
        return


def background_sync(ledger: Ledger, remote: str, interval: float) -> threading.Event:
    """Sync a list every ``interval`` seconds in a thread of its own (for watch and mcp)."""
    stop = threading.Event()

    def loop() -> None:
        own = Ledger(ledger.layout, ledger.session, long_lived=False)
        while not stop.is_set():
            try:
                own.sync(remote)
            except SyncError as exc:
                ledger.warnings.append(f"sync: {exc}")
            own.warnings.clear()
            stop.wait(interval)

    threading.Thread(target=loop, name="taskledger-sync", daemon=True).start()
    return stop
