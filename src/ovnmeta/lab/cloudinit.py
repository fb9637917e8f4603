"""cloud-init as a test client: unpack Debian's package once, run its readers as a subprocess.

cloud-init is not on PyPI, and installing the Debian package would enable its boot services,
so `ensure_unpacked()` does `apt-get download cloud-init` + `dpkg-deb -x` into a cache
directory (default `~/.cache/ovnmeta/cloud-init`, or $OVNMETA_CLOUDINIT_DIR). Its Python
dependencies are Debian's python3-* packages (scripts/setup installs them), so the reader
runs under /usr/bin/python3, not the project venv.

    from ovnmeta.lab import cloudinit
    cloudinit.ensure_unpacked()                       # idempotent; scripts/setup calls it
    doc = cloudinit.read("http://169.254.169.254", netns="vm1-ns")   # or any base URL
    doc["uuid"], doc["hostname"], doc["public_keys"], doc["user_data_sha256"],
    doc["network_data"], doc["ec2"]["instance_id"], ...
    cloudinit.read(url, datasource=True)["datasource"]   # full DataSourceOpenStack too

From a shell: `python -m ovnmeta.lab.cloudinit ensure` and
`python -m ovnmeta.lab.cloudinit read URL [--netns NS]` (prints the JSON).
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ovnmeta.core.errors import DependencyError, OvnmetaError
from ovnmeta.lab import debs

SYSTEM_PYTHON = "/usr/bin/python3"
READER_SCRIPT = Path(__file__).with_name("cloudinit_reader.py")
_SITE = Path("usr/lib/python3/dist-packages")
# Debian's Depends of cloud-init that the readers import (`apt-cache show cloud-init`).
DEBIAN_PACKAGES = (
    "python3-yaml",
    "python3-jinja2",
    "python3-requests",
    "python3-jsonschema",
    "python3-configobj",
    "python3-jsonpatch",
    "python3-oauthlib",
    "python3-netifaces",
    "python3-serial",
)


class ReaderError(OvnmetaError):
    """cloud-init rejected the metadata service, or the reader could not run."""


def cache_dir() -> Path:
    override = os.environ.get("OVNMETA_CLOUDINIT_DIR")
    return Path(override) if override else Path.home() / ".cache" / "ovnmeta" / "cloud-init"


def site_dir(root: Path | None = None) -> Path:
    """Where the unpacked `cloudinit` package lives."""
    return (root or cache_dir()) / _SITE


def is_available(root: Path | None = None) -> bool:
    return (site_dir(root) / "cloudinit" / "__init__.py").is_file() and Path(
        SYSTEM_PYTHON
    ).is_file()


def ensure_unpacked(root: Path | None = None) -> Path:
    """Download and unpack cloud-init unless already there; returns its site directory."""
    root = root or cache_dir()
    debs.unpack("cloud-init", root, is_available)
    return site_dir(root)


def reader_command(
    base_url: str,
    *,
    netns: str | None = None,
    timeout_s: float = 5.0,
    retries: int = 0,
    deadline_s: int = 60,
    datasource: bool = False,
    root: Path | None = None,
) -> list[str]:
    """The argv that runs cloud-init's readers against `base_url` (inside `netns` if given).

    `-I` keeps the venv, user site and the script's own directory off sys.path; the
    cloud-init tree is passed explicitly, so nothing depends on the environment surviving
    `ip netns exec`.
    """
    argv = [
        SYSTEM_PYTHON,
        "-I",
        str(READER_SCRIPT),
        base_url,
        "--cloud-init-path",
        str(site_dir(root)),
        "--timeout",
        str(timeout_s),
        "--retries",
        str(retries),
        "--deadline",
        str(deadline_s),
    ]
    if datasource:
        argv.append("--datasource")
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def read(
    base_url: str,
    *,
    netns: str | None = None,
    timeout_s: float = 5.0,
    retries: int = 0,
    deadline_s: int = 60,
    datasource: bool = False,
    root: Path | None = None,
) -> dict[str, Any]:
    """Run the reader and return its JSON; ReaderError with cloud-init's verdict otherwise."""
    if not is_available(root):
        raise DependencyError(
            f"cloud-init: not unpacked in {root or cache_dir()} (run scripts/setup, or "
            "`python -m ovnmeta.lab.cloudinit ensure`)"
        )
    argv = reader_command(
        base_url, netns=netns, timeout_s=timeout_s, retries=retries, deadline_s=deadline_s,
        datasource=datasource, root=root,
    )  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=deadline_s + 10)
    except subprocess.TimeoutExpired as exc:
        raise ReaderError(f"cloud-init reader {base_url}: no answer in {deadline_s}s") from exc
    except OSError as exc:
        raise ReaderError(f"cloud-init reader: cannot run {argv[0]}: {exc.strerror}") from exc
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReaderError(f"cloud-init reader {base_url}: exit {proc.returncode}: {tail}") from None
    if proc.returncode != 0 or "error" in doc:
        raise ReaderError(f"cloud-init reader {base_url}: {doc.get('error', proc.returncode)}")
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ovnmeta.lab.cloudinit")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure", help="download and unpack cloud-init (idempotent)")
    reader = commands.add_parser("read", help="read a metadata service with cloud-init")
    reader.add_argument("base_url")
    reader.add_argument("--netns", help="run inside this network namespace")
    reader.add_argument("--timeout", type=float, default=5.0)
    reader.add_argument("--retries", type=int, default=0)
    reader.add_argument("--datasource", action="store_true", help="also DataSourceOpenStack")
    args = parser.parse_args(argv)
    try:
        if args.command == "ensure":
            print(ensure_unpacked())
        else:
            doc = read(
                args.base_url, netns=args.netns, timeout_s=args.timeout, retries=args.retries
            )
            print(json.dumps(doc, indent=2, sort_keys=True))
    except OvnmetaError as exc:
        print(f"ovnmeta: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
