"""What importing a module loads, transitively: the one import walker of the tests.

`loaded(modules)` starts one clean interpreter that forks a child per module; each child
imports its module and reports `sys.modules`. A fork per module keeps every answer independent
of the others and costs milliseconds, where an interpreter per module costs a second.
`direct_imports(path)` reads one file's own import statements with `ast`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

_CHILD = r"""
import json, os, sys
out = {}
for name in json.loads(sys.stdin.read()):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        __import__(name)
        os.write(w, json.dumps(sorted(sys.modules)).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    out[name] = json.loads(data) if status == 0 else None
print(json.dumps(out))
"""


def all_modules(package: str = "ovnmeta") -> list[str]:
    """Every module of the package, by dotted name, from the source tree."""
    names = []
    for path in sorted((SRC / package).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__main__":  # runs the command when imported
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def loaded(modules: list[str]) -> dict[str, set[str]]:
    """module -> every module name in sys.modules after importing it in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(modules),
        capture_output=True,
        text=True,
        check=True,
        cwd=SRC,
    )
    result = json.loads(proc.stdout)
    failed = [m for m, mods in result.items() if mods is None]
    assert not failed, f"cannot import {failed}: {proc.stderr[-2000:]}"
    return {m: set(mods) for m, mods in result.items()}


def direct_imports(path: Path) -> set[str]:
    """The modules one file names in its own import statements (`from a import b` gives a, a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found
