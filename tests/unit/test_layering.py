"""Import rules of style.md 5.3, checked on the source with `ast`."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ovnmeta"

PURE = [
    "model.py",
    "names.py",
    "eui64.py",
    "sb/rows.py",
    "sb/index.py",
    "sb/desired.py",
    "sb/changes.py",
    "sb/registration.py",
    "reconcile/actions.py",
    "reconcile/observed.py",
    "reconcile/plan.py",
    "reconcile/retry.py",
    "dataplane/haproxy_conf.py",
    "proxy/request.py",
    "proxy/lookup.py",
    "proxy/forward.py",
    "proxy/reply.py",
    "proxy/probe.py",
    "health.py",
]
FORBIDDEN_IN_PURE = {
    "asyncio",
    "aiohttp",
    "pyroute2",
    "ovsdbapp",
    "ovs",
    "sqlite3",
    "subprocess",
    "socket",
    "os",
    "random",
    "time",
    "threading",
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_pure_modules_do_no_io():
    for rel in PURE:
        bad = {m for m in imports(SRC / rel) if m.split(".")[0] in FORBIDDEN_IN_PURE}
        assert not bad, f"{rel} imports {sorted(bad)}"


def test_package_boundaries():
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        mods = imports(path)
        if rel.startswith("dataplane/"):
            assert not any(m.startswith("ovnmeta.sb") for m in mods), rel
        if rel.startswith("proxy/"):
            assert not any(
                m.startswith(
                    ("ovnmeta.dataplane", "ovnmeta.reconcile", "ovnmeta.scheduler", "ovnmeta.sb")
                )
                for m in mods
            ), rel
        if rel not in ("cli.py", "agent_cli.py", "__main__.py"):
            assert not any(m in ("ovnmeta.agent", "ovnmeta.cli") for m in mods), rel


def test_healthcheck_stays_light_and_never_talks_to_the_sb():
    """It runs every 30 s on every compute: no SB client, no heavy libraries."""
    heavy = ("ovnmeta.sb", "ovsdbapp", "ovs", "aiohttp", "pyroute2", "ovnmeta.dataplane")
    for rel in ("healthcheck_cli.py", "health.py", "proxy/probe.py", "agent_cli.py"):
        mods = imports(SRC / rel)
        bad = {m for m in mods if any(m == h or m.startswith(h + ".") for h in heavy)}
        assert not bad, f"{rel} imports {sorted(bad)}"
