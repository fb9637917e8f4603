"""promtool, Prometheus's rule and metrics checker, for deploy/prometheus/ and its tests.

Debian ships it in the `prometheus` package, whose init script would also start a Prometheus
server: `ensure()` unpacks the package into a cache directory instead (default
`~/.cache/ovnmeta/prometheus`, or $OVNMETA_PROMETHEUS_DIR) and returns promtool's path.
scripts/setup calls it:

    python -m ovnmeta.lab.promtool ensure      # prints the path
"""

import os
import sys
from pathlib import Path

from ovnmeta.core.errors import DependencyError
from ovnmeta.lab import debs

_BINARY = Path("usr/bin/promtool")


def cache_dir() -> Path:
    override = os.environ.get("OVNMETA_PROMETHEUS_DIR")
    return Path(override) if override else Path.home() / ".cache" / "ovnmeta" / "prometheus"


def _present(root: Path) -> bool:
    return os.access(root / _BINARY, os.X_OK)


def ensure(root: Path | None = None) -> Path:
    """Download and unpack prometheus unless promtool is already there; returns its path."""
    root = root or cache_dir()
    debs.unpack("prometheus", root, _present)
    return root / _BINARY


def path(root: Path | None = None) -> Path:
    """promtool's path; DependencyError saying how to get it when it is not unpacked."""
    root = root or cache_dir()
    if not _present(root):
        raise DependencyError(
            f"promtool: not unpacked in {root} (run scripts/setup, or "
            "`python -m ovnmeta.lab.promtool ensure`)"
        )
    return root / _BINARY


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["ensure"]:
        print("usage: python -m ovnmeta.lab.promtool ensure", file=sys.stderr)
        return 2
    try:
        print(ensure())
    except DependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
