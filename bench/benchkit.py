"""Shared by the benchmarks: a results table (figure, value, goal, same-run baseline) and
running a command inside a namespace."""

import sys

from ovnmeta.core import tables
from ovnmeta.lab.proc import run

HEAD = ("FIGURE", "VALUE", "GOAL", "BASELINE (same run)")


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def row(self, figure: str, value: str, goal: str = "", baseline: str = "") -> None:
        """Record a figure, and show it at once on stderr (a long run shows progress)."""
        self.rows.append((figure, value, goal, baseline))
        print(
            f"  {figure}: {value}" + (f"  [{baseline}]" if baseline else ""),
            file=sys.stderr,
            flush=True,
        )

    def print(self) -> None:
        print(tables.render(HEAD, self.rows))


def in_ns(ns: str, *argv: str, timeout: float = 300) -> str:
    """stdout of `argv` run in namespace `ns`; a failure is the lab's one-line LabError."""
    return run(argv, netns=ns, timeout=timeout)
