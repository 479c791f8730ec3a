"""MCP server: per-call latency of its tools at 1k and 10k tasks, through the stdio client.

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


async def drive(home: Path, size: int, calls: int, lists: int) -> dict[str, Any]:
    """``calls`` TaskUpdate and TaskGet calls (each on its own task), ``lists`` TaskList."""
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
        assert len(rows) == size, len(rows)
        ids = [row["id"] for row in rows]
        step = max(1, len(ids) // calls)  # (spread over the list's shards)
        samples: dict[str, list[float]] = {"TaskList": [], "TaskUpdate": [], "TaskGet": []}
        for n in range(calls):
            task = ids[(n * step) % len(ids)]
            steps: list[tuple[str, dict[str, Any]]] = [
                ("TaskUpdate", {"taskId": task, "subject": f"renamed {n}"}),
                ("TaskGet", {"taskId": task}),
            ]
            if n < lists:
                steps.insert(0, ("TaskList", {}))
            for tool, args in steps:
                began = time.perf_counter()
                result = await session.call_tool(tool, args)
                samples[tool].append(time.perf_counter() - began)
                assert not result.is_error, result.content
    return {"startup_s": ready_s, "samples": samples}


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    """Per-call latency of the tools at 1k and 10k tasks, and a CLI call on the same list."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        return [["(skipped: pip install 'taskledger[mcp]')", "", "", "", ""]], {}
    plan = [(1000, 50, 50), (10_000, 100, 5)] if quick else [(1000, 200, 200), (10_000, 1000, 20)]
    rows: list[list[str]] = []
    results: dict[str, Any] = {}
    for size, calls, lists in plan:
        with scratch("tl-mcp-") as tmp:
            home = tmp / "home"
            bulk(home, LIST_ID, size)
            env = cli_env(home, LIST_ID)
            cli = [sys.executable, "-m", "cli"]
            subprocess.run([*cli, "list"], env=env, check=True, capture_output=True)
            measured = asyncio.run(drive(home, size, calls, lists))
            cli_list = timed([*cli, "list"], env=env, runs=7)
            out = subprocess.run([*cli, "list", "--json"], env=env, check=True, capture_output=True)
            task = out.stdout.decode().split('"id": "', 1)[1][:16]
            cli_update = timed([*cli, "update", task, "--subject", "cli"], env=env, runs=7)
        mine: dict[str, Any] = {"startup_s": measured["startup_s"], "calls": calls}
        for tool, samples in measured["samples"].items():
            p50, p99 = statistics.median(samples), percentile(samples, 99)
            mine[tool] = {"p50_s": p50, "p99_s": p99, "calls": len(samples)}
            rows.append([f"{size:,}", tool, str(len(samples)), f"{p50 * 1000:.1f} ms",
                         f"{p99 * 1000:.1f} ms", ""])  # fmt: skip
        mine["cli"] = {"list_s": cli_list, "update_s": cli_update}
        results[str(size)] = mine
        rows += [
            [f"{size:,}", "server start + initialize", "1",
             f"{measured['startup_s'] * 1000:.0f} ms", "", ""],
            [f"{size:,}", "CLI `list` (fresh process)", "7", f"{cli_list * 1000:.1f} ms", "",
             "for comparison"],
            [f"{size:,}", "CLI `update` (fresh process)", "7", f"{cli_update * 1000:.1f} ms", "",
             "for comparison"],
        ]  # fmt: skip
    return rows, results


HEADER = ["tasks", "call", "calls", "p50", "p99", "note"]


def main() -> None:
    part_main(
        "mcp",
        "MCP server, per call through the SDK's stdio client",
        HEADER,
        run,
        quick="50 / 100 calls per tool at 1k / 10k tasks instead of 200 / 1,000",
    )


if __name__ == "__main__":
    main()
