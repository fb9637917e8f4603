"""A compute node: its own Open_vSwitch DB, ovs-vswitchd (userspace datapath) and ovn-controller,
all inside the node's namespace, with the encap IP on br-phy (lab-recipe 11.2-11.4)."""

from collections.abc import Mapping, Sequence
from pathlib import Path

from ovnmeta.lab import netns, pki
from ovnmeta.lab.proc import daemon_flags, run
from ovnmeta.lab.topology import Compute, Topology

VSWITCH_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
NETNS_RUN_DIR = "/run/netns"


def node_dir(lab_dir: Path, cmp: Compute) -> Path:
    return lab_dir / cmp.name


def ovs_env(lab_dir: Path, cmp: Compute) -> dict[str, str]:
    """Point the standard tools at this compute (ovs-vsctl, ovs-appctl, ovn-appctl)."""
    return switch_env(node_dir(lab_dir, cmp))


def switch_env(d: Path) -> dict[str, str]:
    return {"OVS_RUNDIR": str(d / "ovs"), "OVN_RUNDIR": str(d / "ovn")}


def db_sock(lab_dir: Path, cmp: Compute) -> Path:
    return switch_sock(node_dir(lab_dir, cmp))


def switch_sock(d: Path) -> Path:
    """The Open_vSwitch DB socket of the switch kept in node directory `d`."""
    return d / "ovs" / "db.sock"


def vsctl(lab_dir: Path, cmp: Compute, *args: str, timeout: float = 30) -> str:
    return switch_vsctl(node_dir(lab_dir, cmp), *args, timeout=timeout)


def switch_vsctl(d: Path, *args: str, timeout: float = 30) -> str:
    return run(
        ["ovs-vsctl", f"--db=unix:{switch_sock(d)}", f"--timeout={timeout:g}", *args],
        timeout=timeout + 5,
    )


def appctl(lab_dir: Path, cmp: Compute, *args: str) -> str:
    """ovs-appctl against this compute's ovs-vswitchd."""
    ctl = node_dir(lab_dir, cmp) / "ovs" / "ovs-vswitchd.ctl"
    return run(["ovs-appctl", "--timeout=10", "-t", str(ctl), *args], timeout=15)


def br_int(fail_mode: str = "secure") -> list[str]:
    """ovs-vsctl arguments adding br-int on the userspace datapath. `secure` leaves switching
    to ovn-controller's flows; `standalone` makes it a plain L2 switch (no ovn-controller)."""
    return [
        "add-br",
        "br-int",
        "--",
        "set",
        "Bridge",
        "br-int",
        "datapath_type=netdev",
        f"fail-mode={fail_mode}",
        "other_config:disable-in-band=true",
    ]


def start_switch_db(d: Path, identity: Mapping[str, str], netns: str | None = None) -> None:
    """The switch's ovsdb-server alone, initialised with the node's identity: what
    `start_switch` runs ovs-vswitchd on, and what a test of an OVSDB client without any
    datapath needs."""
    for sub in ("ovs", "ovn", "log"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    env = switch_env(d)
    conf = d / "ovs" / "conf.db"
    run(["ovsdb-tool", "create", str(conf), VSWITCH_SCHEMA])
    run(
        [
            "ovsdb-server",
            str(conf),
            f"--remote=punix:{switch_sock(d)}",
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
            *daemon_flags(
                d / "ovs" / "ovsdb-server.pid",
                d / "log" / "ovsdb-server.log",
                d / "ovs" / "ovsdb-server.ctl",
            ),
        ],
        netns=netns,
        env=env,
    )
    ids = [f"external_ids:{key}={value}" for key, value in identity.items()]
    identify = ["--", "set", "Open_vSwitch", ".", *ids] if ids else []
    switch_vsctl(d, "--no-wait", "init", *identify)


def start_switch(d: Path, identity: Mapping[str, str], netns: str | None = None) -> None:
    """Open vSwitch of one node kept in directory `d`: ovsdb-server, the node's identity
    (Open_vSwitch external_ids), ovs-vswitchd on the userspace datapath (no kernel module).
    vswitchd opens ports by name in `netns`, so ports must be created there (recipe 6)."""
    start_switch_db(d, identity, netns)
    env = switch_env(d)
    run(
        [
            "ovs-vswitchd",
            f"unix:{switch_sock(d)}",
            "--disable-system",
            # `type=dummy` interfaces besides the real ones: bound VIFs without a kernel
            # device (Lab.bound_networks); system and internal ports stay real.
            "--enable-dummy",
            *daemon_flags(
                d / "ovs" / "ovs-vswitchd.pid",
                d / "log" / "ovs-vswitchd.log",
                d / "ovs" / "ovs-vswitchd.ctl",
            ),
        ],
        netns=netns,
        env=env,
    )


def start_ovs(lab_dir: Path, topo: Topology, cmp: Compute) -> None:
    """Step 1: ovsdb-server, identity, ovs-vswitchd, br-phy holding the encap IP, br-int."""
    identity = {
        "system-id": cmp.chassis,
        "hostname": cmp.chassis,
        "ovn-remote": topo.sb_client_remotes(),  # the relays, when the lab has them
        "ovn-encap-type": "geneve",
        "ovn-encap-ip": cmp.ip,
        "ovn-bridge": "br-int",
        "ovn-bridge-datapath-type": "netdev",
    }
    start_switch(node_dir(lab_dir, cmp), identity, cmp.netns)
    vsctl(
        lab_dir,
        cmp,
        "add-br",
        "br-phy",
        "--",
        "set",
        "Bridge",
        "br-phy",
        "datapath_type=netdev",
        f"other_config:hwaddr={cmp.brphy_mac}",
        "--",
        "add-port",
        "br-phy",
        "eth0",
        "--",
        *br_int("secure"),
    )
    # The kernel must ignore eth0 (no IP, no ARP): br-phy's tap holds the underlay address.
    netns.shell(
        cmp.netns,
        f"ip link set eth0 arp off up; ip addr add {cmp.ip}/24 dev br-phy; ip link set br-phy up",
    )


def mount_namespace(lab_dir: Path, cmp: Compute) -> Path:
    return node_dir(lab_dir, cmp) / "mntns"


def netns_dir(lab_dir: Path, cmp: Compute) -> Path:
    return node_dir(lab_dir, cmp) / "netns"


def create_mount_namespace(lab_dir: Path, cmp: Compute) -> None:
    """A persistent mount namespace whose /run/netns is this compute's own directory.

    The agent creates namespaces with upstream names (`ovnmeta-<network>`), which are global
    on a real host; in the lab every compute runs its agent in this mount namespace so that
    computes (and labs) never see each other's. The namespace outlives the agent, as
    /run/netns does on a host, so an agent restart finds its namespaces again.
    Needs the lab directory to be a private mount (see Lab._bring_up).
    """
    mntns, own = mount_namespace(lab_dir, cmp), netns_dir(lab_dir, cmp)
    own.mkdir(parents=True, exist_ok=True)
    mntns.touch()
    run(
        [
            "unshare",
            f"--mount={mntns}",
            "--propagation",
            "private",
            "mount",
            "--bind",
            str(own),
            NETNS_RUN_DIR,
        ]
    )


def nsenter_argv(lab_dir: Path, cmp: Compute, argv: Sequence[str]) -> list[str]:
    """Run `argv` on this compute as a host service would: in its network namespace
    (where its ovs-vswitchd plugs ports) and its mount namespace (its /run/netns)."""
    return [
        "nsenter",
        f"--mount={mount_namespace(lab_dir, cmp)}",
        f"--net={NETNS_RUN_DIR}/{cmp.netns}",
        "--",
        *argv,
    ]


def start_ovn_controller(lab_dir: Path, cmp: Compute) -> None:
    """Step 3. ovn-controller 23.03 takes no --unixctl; its socket is in OVN_RUNDIR."""
    d = node_dir(lab_dir, cmp)
    run(
        [
            "ovn-controller",
            f"unix:{db_sock(lab_dir, cmp)}",
            *pki.flags(lab_dir, cmp.name),  # its SB remotes are ssl: in an SSL lab
            *daemon_flags(d / "ovn" / "ovn-controller.pid", d / "log" / "ovn-controller.log"),
        ],
        netns=cmp.netns,
        env=ovs_env(lab_dir, cmp),
    )


def controller_status(lab_dir: Path, cmp: Compute) -> str:
    out = run(
        ["ovn-appctl", "--timeout=5", "-t", "ovn-controller", "connection-status"],
        env=ovs_env(lab_dir, cmp),
        check=False,
        timeout=10,
    )
    return out.strip()


def daemons(lab_dir: Path, cmp: Compute) -> Sequence[tuple[str, Path]]:
    d = node_dir(lab_dir, cmp)
    return [
        ("ovsdb-server", d / "ovs" / "ovsdb-server.pid"),
        ("ovs-vswitchd", d / "ovs" / "ovs-vswitchd.pid"),
        ("ovn-controller", d / "ovn" / "ovn-controller.pid"),
    ]
