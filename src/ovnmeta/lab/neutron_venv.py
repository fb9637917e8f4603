"""The pinned upstream neutron in a cached venv of its own, shared by the lab and the benches.

`lab up --neutron` runs neutron's API from it and `make bench-upstream` runs upstream's metadata
agents from it, so both compare against the same release. It lives outside the project's .venv
(neutron pins dozens of OpenStack libraries we must not mix with ours), by default in
`~/.cache/ovnmeta/neutron-<version>` (or $OVNMETA_NEUTRON_VENV), and is built once: a stamp file
written after a successful install marks it complete, and a half-built venv is rebuilt.

    from ovnmeta.lab import neutron_venv
    venv = neutron_venv.ensure(progress=print)   # idempotent; minutes the first time
    venv.bin("neutron-ovn-metadata-agent"), venv.python

From a shell: `python -m ovnmeta.lab.neutron_venv ensure` (prints the venv's path).
"""

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ovnmeta.core.errors import DependencyError

NEUTRON_VERSION = "29.0.0"
# The interpreter the venv is made from: Debian 12's python3 (3.11), which neutron 29 supports.
SYSTEM_PYTHON = "/usr/bin/python3"
_STAMP = ".ovnmeta-complete"
# Added to neutron's own requirements: the MySQL driver for `lab up --neutron`'s MariaDB
# (neutron leaves the database driver to the deployment). Installed into an existing venv
# without rebuilding it; its own stamp records what is there.
EXTRAS = ("PyMySQL==1.2.4",)
_EXTRAS_STAMP = ".ovnmeta-extras"


@dataclass(frozen=True)
class NeutronVenv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    @property
    def complete(self) -> bool:
        stamp = self.root / _STAMP
        return stamp.is_file() and stamp.read_text().strip() == NEUTRON_VERSION

    @property
    def has_extras(self) -> bool:
        stamp = self.root / _EXTRAS_STAMP
        return stamp.is_file() and stamp.read_text().split() == list(EXTRAS)


def default_root() -> Path:
    override = os.environ.get("OVNMETA_NEUTRON_VENV")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "ovnmeta" / f"neutron-{NEUTRON_VERSION}"


def ensure(root: Path | None = None, progress: Callable[[str], None] | None = None) -> NeutronVenv:
    """Build the venv unless a complete one is there; concurrent callers wait for one build."""
    venv = NeutronVenv(root or default_root())
    if venv.complete and venv.has_extras:
        return venv
    say = progress or (lambda _line: None)
    venv.root.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.root.parent / f".{venv.root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not venv.complete:  # else another process built it while we waited
            _build(venv, say)
        if not venv.has_extras:
            say(f"neutron venv: adding {' '.join(EXTRAS)}")
            _pip(venv, *EXTRAS)
            (venv.root / _EXTRAS_STAMP).write_text(" ".join(EXTRAS) + "\n")
    return venv


def _build(venv: NeutronVenv, say: Callable[[str], None]) -> None:
    shutil.rmtree(venv.root, ignore_errors=True)
    say(f"neutron venv: installing neutron=={NEUTRON_VERSION} into {venv.root} (once)")
    _run([SYSTEM_PYTHON, "-m", "venv", str(venv.root)])
    _pip(venv, f"neutron=={NEUTRON_VERSION}")
    (venv.root / _STAMP).write_text(NEUTRON_VERSION + "\n")
    say("neutron venv: ready")


def _pip(venv: NeutronVenv, *requirements: str) -> None:
    _run([str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          *requirements])  # fmt: skip


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise DependencyError(
            f"neutron venv: {' '.join(argv[:4])} … failed (exit {done.returncode}): "
            + " | ".join(tail)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ovnmeta.lab.neutron_venv")
    parser.add_argument("command", choices=["ensure", "path"])
    args = parser.parse_args(argv)
    if args.command == "path":
        print(default_root())
        return 0
    print(ensure(progress=lambda line: print(line, file=sys.stderr)).root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
