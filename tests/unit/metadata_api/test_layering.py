"""The pure modules of metadata_api import no I/O library (style.md section 5.3)."""

import ast
from pathlib import Path

import pytest

import ovnmeta.metadata_api

PACKAGE = Path(ovnmeta.metadata_api.__file__).parent
PURE = ["model", "paths", "validate", "render", "codec", "settings"]
FORBIDDEN = {
    "aiohttp", "asyncio", "sqlite3", "os", "subprocess", "socket", "random", "time",
    "datetime", "oslo_config", "pyroute2", "ovsdbapp", "ovs",
}  # fmt: skip
ALLOWED_OVNMETA = {"ovnmeta.errors", "ovnmeta.signing", "ovnmeta.metadata_api"}


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module):
    imported = _imports(module)
    assert not {name.split(".")[0] for name in imported} & FORBIDDEN
    for name in imported:
        if name.startswith("ovnmeta"):
            assert any(name.startswith(prefix) for prefix in ALLOWED_OVNMETA), name


@pytest.mark.parametrize("module", PURE)
def test_pure_module_never_imports_the_shell(module):
    shell = {"ovnmeta.metadata_api.app", "ovnmeta.metadata_api.store", "ovnmeta.metadata_api.cli"}
    assert not _imports(module) & shell
