"""MCP server: per-call latency of TaskList and TaskUpdate at 1k tasks, through the stdio client.

Run: ``python -m benchmarks.bench_mcp`` (``--quick``: fewer calls). Starts the
real ``taskledger mcp`` server as a subprocess and drives it with the MCP
SDK's own client; the time of a call is from ``call_tool`` to its result, so
it includes the JSON-RPC round trip over the pipes. A fresh CLI process
(``taskledger list`` / ``update``) on the same list is measured beside it.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import (  # noqa: E402
    bulk,
    cli_env,
    part_main,
    percentile,
    scratch,
    timed,
)

LIST_ID = "bench"


async def drive(home: Path, calls: int) -> dict[str, Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli", "mcp", "--home", str(home), "--list", LIST_ID, "--session", "bench"],
        cwd=str(ROOT),
    )
    start = time.perf_counter()
    async with (
        stdio_client(params, errlog=subprocess.DEVNULL) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        ready_s = time.perf_counter() - start
        first = await session.call_tool("TaskList", {})
        assert not first.is_error
        rows = first.structured_content["tasks"]  # type: ignore[index]
        assert len(rows) == 1000, len(rows)
        task = rows[0]["id"]
        samples: dict[str, list[float]] = {"TaskList": [], "TaskUpdate": [], "TaskGet": []}
        for n in range(calls):
            for tool, args in (
                ("TaskList", {}),
                ("TaskUpdate", {"taskId": task, "subject": f"renamed {n}"}),
                ("TaskGet", {"taskId": task}),
            ):
                began = time.perf_counter()
                result = await session.call_tool(tool, args)
                samples[tool].append(time.perf_counter() - began)
                assert not result.is_error, result.content
    return {"startup_s": ready_s, "samples": samples}


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    """Per-call latency of the tools, and a CLI call on the same list."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        return [["(skipped: pip install 'taskledger[mcp]')", "", "", "", ""]], {}
    calls = 50 if quick else 200
    with scratch("tl-mcp-") as tmp:
        home = tmp / "home"
        bulk(home, LIST_ID, 1000)
        env = cli_env(home, LIST_ID)
        cli = [sys.executable, "-m", "cli"]
        subprocess.run([*cli, "list"], env=env, check=True, capture_output=True)
        measured = asyncio.run(drive(home, calls))
        cli_list = timed([*cli, "list"], env=env, runs=7)
        out = subprocess.run([*cli, "list", "--json"], env=env, check=True, capture_output=True)
        task = out.stdout.decode().split('"id": "', 1)[1][:16]
        cli_update = timed([*cli, "update", task, "--subject", "cli"], env=env, runs=7)
    rows = []
    results: dict[str, Any] = {"startup_s": measured["startup_s"], "calls": calls}
    for tool, samples in measured["samples"].items():
        p50, p99 = statistics.median(samples), percentile(samples, 99)
        results[tool] = {"p50_s": p50, "p99_s": p99}
        rows.append([tool, str(len(samples)), f"{p50 * 1000:.1f} ms", f"{p99 * 1000:.1f} ms", ""])
    results["cli"] = {"list_s": cli_list, "update_s": cli_update}
    rows += [
        ["server start + initialize", "1", f"{measured['startup_s'] * 1000:.0f} ms", "", ""],
        ["CLI `list` (fresh process)", "7", f"{cli_list * 1000:.1f} ms", "", "for comparison"],
        ["CLI `update` (fresh process)", "7", f"{cli_update * 1000:.1f} ms", "", "for comparison"],
    ]
    return rows, results


HEADER = ["call (1,000 tasks)", "calls", "p50", "p99", "note"]


def main() -> None:
    part_main(
        "mcp",
        "MCP server, per call through the SDK's stdio client",
        HEADER,
        run,
        quick="50 calls per tool instead of 200",
    )


if __name__ == "__main__":
    main()
