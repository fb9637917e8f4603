"""Shared by the benchmarks: a results table (figure, value, goal, same-run baseline) and
running a command inside a namespace."""

import subprocess
import sys

from ovnmeta.core import tables

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
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    ).stdout
