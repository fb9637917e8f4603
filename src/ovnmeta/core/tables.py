"""Plain-text tables for terminals: one renderer for every `status`-like command (pure).

render(["net", "ok"], [["blue", "yes"]])
# net   ok
# blue  yes
"""

from __future__ import annotations

from collections.abc import Sequence


def render(header: Sequence[str], rows: Sequence[Sequence[object]], gap: int = 2) -> str:
    """Left-aligned columns as wide as their widest cell; no trailing spaces."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append((" " * gap).join(parts).rstrip())
    return "\n".join(lines)
