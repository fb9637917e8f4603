"""Pure planning of a lab: node names, namespaces, underlay addresses, DB remotes.

Nothing here touches the system; `plan()` turns (prefix, controllers, computes) into the
frozen description every I/O module works from, so naming rules live in one place.
"""

import re
from dataclasses import dataclass

from ovnmeta.core.errors import UsageError

UNDERLAY_CIDR = "10.255.0.0/24"
UNDERLAY_PREFIXLEN = 24
NB_CLIENT_PORT, SB_CLIENT_PORT = 6641, 6642
NB_RAFT_PORT, SB_RAFT_PORT = 6643, 6644
SB_RELAY_PORT_BASE = 6650  # relay N listens on 6650 + N
MAX_COMPUTES = 50
MAX_SB_RELAYS = 8

# Short enough that `<prefix>-cmp50` and socket paths under /run stay well inside the limits;
# "ovnmeta" is reserved because the agent owns every `ovnmeta-*` namespace.
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def validate_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise UsageError(
            f"invalid lab name {prefix!r}: use 1-12 lower-case letters and digits, starting "
            "with a letter"
        )
    if prefix.startswith("ovnmeta"):
        raise UsageError(f"invalid lab name {prefix!r}: the 'ovnmeta' prefix belongs to the agent")
    return prefix


@dataclass(frozen=True)
class Controller:
    index: int
    name: str  # ctl1
    netns: str  # <prefix>-ctl1
    ip: str
    mac: str
    scheme: str = "tcp"  # of the client remotes: "ssl" with `lab up --ssl` (RAFT stays tcp)

    def nb_remote(self) -> str:
        return f"{self.scheme}:{self.ip}:{NB_CLIENT_PORT}"

    def sb_remote(self) -> str:
        return f"{self.scheme}:{self.ip}:{SB_CLIENT_PORT}"

    def raft_address(self, db: str) -> str:
        return f"tcp:{self.ip}:{NB_RAFT_PORT if db == 'nb' else SB_RAFT_PORT}"


@dataclass(frozen=True)
class Relay:
    """An SB relay (`ovsdb-server relay:OVN_Southbound:<members>`, OVS >= 2.16) on a
    controller: it replicates the SB from any member and serves clients, forwarding their
    transactions to the cluster. ovn-controller and the agents then talk only to relays."""

    index: int
    name: str  # sbr1
    host: Controller
    port: int

    def remote(self) -> str:
        return f"{self.host.scheme}:{self.host.ip}:{self.port}"


@dataclass(frozen=True)
class Compute:
    index: int
    name: str  # cmp1
    netns: str  # <prefix>-cmp1
    chassis: str  # system-id: <prefix>-cmp1
    ip: str  # encap IP, held by br-phy
    eth_mac: str  # the underlay veth end
    brphy_mac: str  # br-phy's own MAC (lab-recipe 11.4, item 3)


@dataclass(frozen=True)
class Topology:
    prefix: str
    controllers: tuple[Controller, ...]
    computes: tuple[Compute, ...]
    relays: tuple[Relay, ...] = ()
    ssl: bool = False

    @property
    def underlay_netns(self) -> str:
        return f"{self.prefix}-underlay"

    def remotes(self, db: str) -> str:
        """Comma-separated client remotes (tcp: or ssl:) of every member of `db` ('nb'/'sb')."""
        return ",".join(c.nb_remote() if db == "nb" else c.sb_remote() for c in self.controllers)

    def sb_client_remotes(self) -> str:
        """What ovn-controller and the agents connect to: the relays when there are some,
        else the members (northd and the lab's tools always use the members)."""
        if self.relays:
            return ",".join(r.remote() for r in self.relays)
        return self.remotes("sb")

    def relay(self, ref: str | int) -> Relay:
        text = str(ref)
        for relay in self.relays:
            if text in (str(relay.index), relay.name):
                return relay
        raise UsageError(f"unknown SB relay {text!r} (this lab has {len(self.relays)})")

    def compute(self, ref: str | int) -> Compute:
        """A compute by index (1, "1") or name ("cmp1")."""
        text = str(ref)
        for node in self.computes:
            if text in (str(node.index), node.name, node.netns):
                return node
        known = ", ".join(n.name for n in self.computes)
        raise UsageError(f"unknown compute {text!r} (this lab has: {known})")

    def node_namespaces(self) -> tuple[str, ...]:
        return (
            self.underlay_netns,
            *(c.netns for c in self.controllers),
            *(c.netns for c in self.computes),
        )


def plan(
    prefix: str,
    controllers: int = 1,
    computes: int = 1,
    sb_relays: int = 0,
    ssl: bool = False,
) -> Topology:
    validate_prefix(prefix)
    if controllers not in (1, 3):
        raise UsageError(f"--controllers must be 1 or 3, not {controllers}")
    if not 1 <= computes <= MAX_COMPUTES:
        raise UsageError(f"--computes must be between 1 and {MAX_COMPUTES}, not {computes}")
    if not 0 <= sb_relays <= MAX_SB_RELAYS:
        raise UsageError(f"--sb-relays must be between 0 and {MAX_SB_RELAYS}, not {sb_relays}")
    ctls = tuple(
        Controller(
            index=i,
            name=f"ctl{i}",
            netns=f"{prefix}-ctl{i}",
            ip=f"10.255.0.{10 + i}",
            mac=f"02:ff:00:00:00:{10 + i:02x}",
            scheme="ssl" if ssl else "tcp",
        )
        for i in range(1, controllers + 1)
    )
    cmps = tuple(
        Compute(
            index=i,
            name=f"cmp{i}",
            netns=f"{prefix}-cmp{i}",
            chassis=f"{prefix}-cmp{i}",
            ip=f"10.255.0.{100 + i}",
            eth_mac=f"02:ff:00:00:00:{100 + i:02x}",
            brphy_mac=f"02:ff:00:00:01:{100 + i:02x}",
        )
        for i in range(1, computes + 1)
    )
    # Round-robin over the controllers: with 3, losing one node loses one relay at most.
    relays = tuple(
        Relay(
            index=i,
            name=f"sbr{i}",
            host=ctls[(i - 1) % len(ctls)],
            port=SB_RELAY_PORT_BASE + i,
        )
        for i in range(1, sb_relays + 1)
    )
    return Topology(prefix=prefix, controllers=ctls, computes=cmps, relays=relays, ssl=ssl)


def instance_netns(prefix: str, vm: str) -> str:
    """An instance's namespace; the name is checked here, where every path that makes one
    passes, so teardown and the leak check (which match `-vm-<name>`) always find it."""
    return f"{prefix}-vm-{validate_vm_name(vm)}"


_VM_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def validate_vm_name(name: str) -> str:
    if not _VM_RE.match(name):
        raise UsageError(
            f"invalid instance name {name!r}: use up to 32 lower-case letters, digits and '-'"
        )
    return name


def node_netns_pattern(prefix: str) -> re.Pattern[str]:
    """Every namespace name this lab can create (used by teardown when state is lost); any
    `-vm-` name, valid or not, so a namespace made outside `instance_netns` is removed too."""
    return re.compile(rf"^{re.escape(prefix)}-(underlay|ctl\d+|cmp\d+|vm-\S+)$")
