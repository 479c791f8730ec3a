"""Maintenance commands: materialize, verify."""

from __future__ import annotations

import click

from ledger import CorruptLedger, StorageError

from ._options import Env, ledger_command
from ._output import clean, emit_json, progress


@click.command()
@ledger_command
def materialize(env: Env) -> None:
    """Rebuild every <id>.json task file from the logs, and remove strays."""
    outcome = env.ledger.materialize()
    if env.as_json:
        emit_json(
            {"written": outcome.written, "removed": outcome.removed, "errors": outcome.errors}
        )
    else:
        recorded = f", {len(outcome.recorded)} recorded" if outcome.recorded else ""
        click.echo(f"{len(outcome.written)} written, {len(outcome.removed)} removed{recorded}")
    if outcome.errors:
        raise StorageError("; ".join(outcome.errors))


@click.command()
@ledger_command
def verify(env: Env) -> None:
    """Check every log: hash chains, seqs, torn lines, bad records, writer reuse."""
    progress("verifying every log ...")
    report = env.ledger.verify()
    errors = sum(p.severity == "error" for p in report.problems)
    warnings = len(report.problems) - errors
    if env.as_json:
        emit_json(
            {
                "ok": report.ok,
                "files": report.files,
                "records": report.records,
                "problems": [
                    {"file": p.file, "line": p.line, "severity": p.severity, "message": p.message}
                    for p in report.problems
                ],
            }
        )
    else:
        for problem in report.problems:
            click.echo(clean(str(problem)))
        verdict = "OK" if report.ok else "FAILED"
        click.echo(
            f"{verdict}: {report.files} log(s), {report.records} record(s), "
            f"{errors} error(s), {warnings} warning(s)"
        )
    if not report.ok:
        raise CorruptLedger(f"verification failed with {errors} error(s)")
