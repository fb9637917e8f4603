"""One Debian package's files without installing it: `apt-get download` + `dpkg-deb -x`.

For tools the tests need but whose package would do more than ship files: cloud-init enables
its boot services, prometheus starts a server from its init script. The tree lands in `root`
atomically (unpacked beside it, then renamed), so concurrent set-ups never see half of it.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ovnmeta.core.errors import DependencyError


def unpack(package: str, root: Path, ready: Callable[[Path], bool]) -> None:
    """Make `root` the unpacked tree of `package` unless `ready(root)` already holds."""
    if ready(root):
        return
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DependencyError(f"{package}: {tool} not found (needs a Debian system)")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{package}-") as tmp:
        download = ["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", package]
        try:
            _run(package, download, tmp)
        except DependencyError:
            if os.geteuid() != 0:
                raise
            _run(package, ["apt-get", "update", "-qq"], tmp)  # package lists may be cleaned
            _run(package, download, tmp)
        debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if not debs:
            raise DependencyError(f"{package}: apt-get download produced no .deb (apt update?)")
        unpacked = Path(tmp) / "root"
        _run(package, ["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], tmp)
        if ready(root):  # someone else won the race
            return
        if root.exists():
            shutil.rmtree(root)
        unpacked.rename(root)


def _run(package: str, argv: list[str], cwd: str) -> None:
    try:
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, timeout=300)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit {exc.returncode}"]
        raise DependencyError(f"{package}: {' '.join(argv[:2])} failed: {detail[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise DependencyError(f"{package}: {' '.join(argv[:2])} timed out") from exc
