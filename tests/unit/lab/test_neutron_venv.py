from pathlib import Path

import pytest

from ovnmeta.lab import neutron_venv


def test_default_root_is_versioned_under_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OVNMETA_NEUTRON_VENV", raising=False)
    root = neutron_venv.default_root()
    assert root.name == f"neutron-{neutron_venv.NEUTRON_VERSION}"
    assert root.parent == Path.home() / ".cache" / "ovnmeta"


def test_override_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OVNMETA_NEUTRON_VENV", str(tmp_path / "nv"))
    assert neutron_venv.default_root() == tmp_path / "nv"


def test_complete_only_with_the_pinned_version_stamp(tmp_path: Path) -> None:
    venv = neutron_venv.NeutronVenv(tmp_path)
    assert not venv.complete
    (tmp_path / ".ovnmeta-complete").write_text("28.0.0\n")
    assert not venv.complete  # a venv of another release is rebuilt
    (tmp_path / ".ovnmeta-complete").write_text(neutron_venv.NEUTRON_VERSION + "\n")
    assert venv.complete
    assert not venv.has_extras
    (tmp_path / ".ovnmeta-extras").write_text("PyMySQL==0.1\n")
    assert not venv.has_extras  # other extras: installed again (into the same venv)
    (tmp_path / ".ovnmeta-extras").write_text(" ".join(neutron_venv.EXTRAS) + "\n")
    assert venv.has_extras
    # A complete venv is returned as it is: nothing is installed.
    assert neutron_venv.ensure(tmp_path).root == tmp_path
