"""The dependency graph as text: Graphviz DOT and Mermaid, for docs, PRs and the board.

Nodes are tasks (live ones; with ``open_only``, those not completed), edges
run from a blocker to the task it blocks (the edges every reader derives,
``State.edges``). Ready tasks are marked. Every label is stored text, so it
is escaped for each format: nothing in a subject can close a quote, start a
tag or inject a statement.
"""

from __future__ import annotations

import re

from ._datatype import datatype
from ._state import State

_DOT_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029]')
_MERMAID_UNSAFE = re.compile(r'["<>&#`\\\x00-\x1f\x7f-\x9f\u2028\u2029\[\]{}()|]')


@datatype(frozen=True)
class DependencyGraph:
    """Nodes ``(id, short id, subject, status, ready)`` and edges ``(blocker, blocked)``."""

    nodes: tuple[tuple[str, str, str, str, bool], ...]
    edges: tuple[tuple[str, str], ...]


def dependency_graph(state: State, now_ms: int, *, open_only: bool = False) -> DependencyGraph:
    """The graph of a state's live tasks (``open_only``: not completed)."""
    rows = [r for r in state.live_rows() if not (open_only and r.status == "completed")]
    keep = {r.id for r in rows}
    nodes = tuple((r.id, r.short, r.subject, r.status, state.is_ready(r, now_ms)) for r in rows)
    edges = tuple(
        (blocker, blocked)
        for blocker, targets in sorted(state.edges.blocks.items())
        if blocker in keep
        for blocked in targets
        if blocked in keep
    )
    return DependencyGraph(nodes, edges)


def _label(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def to_dot(graph: DependencyGraph, direction: str = "LR") -> str:
    """Graphviz DOT: one node per task (ready ones bold), one edge per dependency;
    ``direction`` is Graphviz's ``rankdir`` (``LR``, ``TB``)."""
    colors = {"pending": "#f0f0f0", "in_progress": "#ffe8a8", "completed": "#c8e6c9"}
    rankdir = direction if direction in ("LR", "TB", "RL", "BT") else "LR"
    lines = [
        "digraph tasks {",
        f"  rankdir={rankdir};",
        '  node [shape=box, style="rounded,filled"];',
    ]
    for task_id, short, subject, status, ready in graph.nodes:
        label = _DOT_UNSAFE.sub(_dot_escape, f"{short} {_label(subject)}")
        extra = ", penwidth=2.5" if ready else ""
        lines.append(
            f'  "{task_id}" [label="{label}", fillcolor="{colors.get(status, "white")}"{extra}];'
        )
    lines += [f'  "{a}" -> "{b}";' for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\" + char if char in '"\\' else f"&#{ord(char)};"


def to_mermaid(graph: DependencyGraph) -> str:
    """A Mermaid flowchart, ``ta1b2["a1b2 subject"] --> tc3d4``; ready tasks of class ``ready``."""
    lines = ["flowchart LR"]
    for _, short, subject, status, ready in graph.nodes:
        label = _MERMAID_UNSAFE.sub(lambda m: f"#{ord(m.group())};", f"{short} {_label(subject)}")
        lines.append(f'  t{short}["{label}"]' + (":::ready" if ready else f":::{status}"))
    shorts = {task_id: short for task_id, short, *_ in graph.nodes}
    lines += [f"  t{shorts[a]} --> t{shorts[b]}" for a, b in graph.edges]
    lines.append("  classDef ready stroke-width:3px;")
    return "\n".join(lines) + "\n"
