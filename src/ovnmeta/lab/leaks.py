"""What labs and agents left behind on this host: `ovnmeta lab leaks`.

A leftover is a process whose command line names a lab directory (or the agent tests'
private hosts), a process inside a lab namespace, a lab or `ovnmeta-*` namespace, a mount
under the lab root, a lab directory or a lock file. `make test` and `make bench` save what is
there before they start and fail on anything new at the end, so a run is judged by what it
left, not by what a developer's own lab on the same machine holds.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ovnmeta.core.procfs import cmdline, mountpoints, pids
from ovnmeta.lab import netns

# The agent tests' single-node hosts live in directories named like this under the temp dir.
AGENT_TEST_ROOT_GLOB = "ovnmeta-agent-lab-*"
# Any lab's node namespaces (topology.node_netns_pattern for one prefix) and the agents'.
_LAB_NETNS = re.compile(r"^[a-z][a-z0-9]*-(underlay|ctl\d+|cmp\d+|vm-\S+)$")
_AGENT_NETNS = re.compile(r"^ovnmeta-")


def is_lab_or_agent_namespace(name: str) -> bool:
    """A namespace some lab or agent made: node, instance (any `-vm-` name, also one a
    script made by hand) or `ovnmeta-*`."""
    return bool(_LAB_NETNS.match(name) or _AGENT_NETNS.match(name))


@dataclass(frozen=True, slots=True, order=True)
class Leftover:
    kind: str  # process | namespace | mount | directory | lock
    name: str  # pid, namespace name, path
    what: str  # the command line, or why it counts

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.what}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.what)


def new_since(before: list[Leftover], now: list[Leftover]) -> list[Leftover]:
    """What `now` holds that `before` did not (a pid reused by another command is new)."""
    seen = {b.key for b in before}
    return sorted(n for n in now if n.key not in seen)


def markers(lab_root: Path, tmp: Path) -> list[str]:
    """Path prefixes that make a process, mount or directory ours."""
    found = [str(lab_root) + "/"]
    found += [str(p) + "/" for p in sorted(tmp.glob(AGENT_TEST_ROOT_GLOB))]
    return found


def scan(lab_root: Path, tmp: Path = Path("/tmp")) -> list[Leftover]:
    marks = markers(lab_root, tmp)
    found: list[Leftover] = []
    me = {os.getpid(), os.getppid()}
    in_namespace: dict[int, str] = {}
    for ns in sorted(netns.existing()):
        if is_lab_or_agent_namespace(ns):
            found.append(Leftover("namespace", ns, "lab node or agent namespace"))
            for pid in netns.pids(ns):
                in_namespace.setdefault(pid, ns)
    for pid in sorted(pids()):
        if pid in me:
            continue
        line = cmdline(pid).strip()
        if any(m in line for m in marks):
            found.append(Leftover("process", str(pid), line))
        elif pid in in_namespace:
            found.append(Leftover("process", str(pid), f"in netns {in_namespace[pid]}: {line}"))
    for point in mountpoints():
        if any((point + "/").startswith(m) for m in marks):
            found.append(Leftover("mount", point, "mounted under a lab directory"))
    if lab_root.is_dir():
        for entry in sorted(lab_root.iterdir()):
            kind = "lock" if entry.suffix == ".lock" else "directory"
            found.append(Leftover(kind, str(entry), "lab state"))
    for entry in sorted(tmp.glob(AGENT_TEST_ROOT_GLOB)):
        found.append(Leftover("directory", str(entry), "agent test host"))
    return sorted(set(found))


def save(path: Path, leftovers: list[Leftover]) -> None:
    path.write_text(json.dumps([asdict(x) for x in leftovers], indent=1))


def load(path: Path) -> list[Leftover]:
    return [Leftover(**x) for x in json.loads(path.read_text())]


def describe(leftovers: list[Leftover]) -> str:
    return "\n".join(x.line() for x in leftovers)
