"""The ovnmeta container image for the tests: built from this checkout, cached by its inputs.

    from ovnmeta.lab import image
    tag = image.ensure(repo_root)      # localhost/ovnmeta-test:<digest of what goes into it>

Where no registry can be reached, the base is a Debian 12 minbase made with debootstrap from
the mirror this machine's own apt uses (read from /etc/apt at run time, never stored in the
repository) and `podman import`ed once as BASE_IMAGE. The image is rebuilt only when a file
that goes into it changed: its tag is a digest of those files and of the base's image id.
A lock file serialises concurrent builds. `python -m ovnmeta.lab.image ensure [ROOT]`.
"""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ovnmeta.core.errors import DependencyError, LabError

BASE_IMAGE = "localhost/ovnmeta-base:bookworm-minbase"
IMAGE_REPO = "localhost/ovnmeta-test"
SUITE = "bookworm"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
# What the image is built from (deploy/container/build.sh: wheels of the checkout + the
# Containerfile and the script it copies).
INPUTS = ("pyproject.toml", "README.md", "src", "deploy/container/Containerfile",
          "deploy/container/edge-detach.sh", "deploy/container/build.sh")  # fmt: skip


def mirror_from_sources(texts: Iterable[str], suite: str = SUITE) -> str | None:
    """The first archive URI that serves `suite` (not -security/-updates), from one-line
    `deb URI suite ...` lists or deb822 `.sources` stanzas (pure)."""
    for text in texts:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                line = line.split("#", 1)[0].strip()
                one = re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if one and one.group(2) == suite:
                    return one.group(1).rstrip("/")
                key, sep, value = line.partition(":")
                if sep and " " not in key:
                    fields[key.strip().lower()] = value.strip()
            if (
                "deb" in fields.get("types", "").split()
                and suite in fields.get("suites", "").split()
            ):
                uris = fields.get("uris", "").split()
                if uris:
                    return uris[0].rstrip("/")
    return None


def inputs_digest(root: Path, files: Iterable[Path], base_id: str) -> str:
    """sha256 over the base image id and every input file's path and bytes (sorted)."""
    h = hashlib.sha256(base_id.encode())
    for path in sorted(files):
        h.update(b"\0" + str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def input_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for name in INPUTS:
        path = root / name
        if path.is_dir():
            out += [
                p for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
            ]  # fmt: skip
        elif path.is_file():
            out.append(path)
        else:
            raise LabError(f"image: {path} missing (not an ovnmeta checkout?)")
    return out


def _podman(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


def image_id(name: str) -> str | None:
    p = _podman("image", "inspect", "--format", "{{.Id}}", name, timeout=60)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def _apt_texts() -> list[str]:
    texts = []
    for where in APT_SOURCES:
        files = sorted(where.glob("*.list")) + sorted(where.glob("*.sources"))
        for path in [where] if where.is_file() else files:
            texts.append(path.read_text())
    return texts


def ensure_base() -> str:
    """BASE_IMAGE's id; made with debootstrap + podman import the first time."""
    found = image_id(BASE_IMAGE)
    if found:
        return found
    for tool in ("debootstrap", "podman"):
        if shutil.which(tool) is None:
            raise DependencyError(f"image: {tool} not installed (run scripts/setup)")
    mirror = mirror_from_sources(_apt_texts())
    if mirror is None:
        raise DependencyError(f"image: no apt source for {SUITE} in /etc/apt to debootstrap from")
    with tempfile.TemporaryDirectory(prefix="ovnmeta-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        boot = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror],
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if boot.returncode != 0:
            tail = (boot.stdout + boot.stderr).strip().splitlines()[-1:]
            raise LabError(f"image: debootstrap {SUITE} failed: {tail}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["podman", "import", "-", BASE_IMAGE], stdin=tar.stdout, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        tar.wait()
        if imp.returncode != 0:
            raise LabError(f"image: podman import failed: {imp.stderr.strip()[-200:]}")
    found = image_id(BASE_IMAGE)
    if not found:
        raise LabError(f"image: {BASE_IMAGE} missing after import")
    return found


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def ensure(root: Path) -> str:
    """The image built from the checkout at `root` (built only if its inputs changed)."""
    with _locked(Path("/var/tmp/ovnmeta-image.lock")):
        base = ensure_base()
        tag = f"{IMAGE_REPO}:{inputs_digest(root, input_files(root), base)}"
        if image_id(tag):
            return tag
        build = subprocess.run(
            [str(root / "deploy/container/build.sh"), "--build-arg", f"BASE={BASE_IMAGE}",
             "--network", "host"],
            cwd=root, capture_output=True, text=True, timeout=1800,
            env={**os.environ, "IMAGE": tag, "PYTHON": sys.executable},
        )  # fmt: skip
        if build.returncode != 0 or not image_id(tag):
            tail = " | ".join((build.stdout + build.stderr).strip().splitlines()[-3:])
            raise LabError(f"image: build of {tag} failed: {tail}")
        return tag


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "ensure" or len(args) > 2:
        print("usage: python -m ovnmeta.lab.image ensure [CHECKOUT]", file=sys.stderr)
        return 2
    try:
        print(ensure(Path(args[1] if len(args) > 1 else ".").resolve()))
    except (DependencyError, LabError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
