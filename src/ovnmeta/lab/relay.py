"""SB relays (`ovnmeta lab up --sb-relays N`): `ovsdb-server relay:OVN_Southbound:<members>`
in a controller's namespace, one TCP remote each for ovn-controller and the agents.

A relay keeps no file: it replicates the SB from whichever member it reaches (and moves on
when that member goes), serves monitors from its copy and forwards transactions to the
cluster, so the agents' registration and heartbeat writes reach the leader through it.
"""

from pathlib import Path

from ovnmeta.core.procfs import owned_pid
from ovnmeta.lab import pki
from ovnmeta.lab.central import node_dir
from ovnmeta.lab.proc import daemon_flags, run, wait_until
from ovnmeta.lab.topology import Relay, Topology


def files(lab_dir: Path, relay: Relay) -> dict[str, Path]:
    d = node_dir(lab_dir, relay.host)
    return {
        "sock": d / f"{relay.name}.sock",
        "ctl": d / f"{relay.name}.ctl",
        "pid": d / f"{relay.name}.pid",
        "log": d / f"ovsdb-server-{relay.name}.log",
    }


def start(lab_dir: Path, topo: Topology, relay: Relay) -> None:
    f = files(lab_dir, relay)
    f["sock"].parent.mkdir(parents=True, exist_ok=True)
    run(
        [
            "ovsdb-server",
            f"--remote=punix:{f['sock']}",
            f"--remote=p{relay.host.scheme}:{relay.port}:{relay.host.ip}",
            *pki.flags(lab_dir, relay.host.name),  # also for its own link to the members
            *daemon_flags(f["pid"], f["log"], f["ctl"]),
            f"relay:OVN_Southbound:{topo.remotes('sb')}",
        ],
        netns=relay.host.netns,
    )


def serving(lab_dir: Path, relay: Relay) -> bool:
    """The relay has its copy of the SB (a monitor on it answers)."""
    out = run(
        [
            "ovsdb-client",
            "--timeout=3",
            "dump",
            f"unix:{files(lab_dir, relay)['sock']}",
            "OVN_Southbound",
            "SB_Global",
            "_uuid",
        ],
        check=False,
        timeout=10,
    )
    return "SB_Global table" in out and len(out.split()) > 4


def bring_up(lab_dir: Path, topo: Topology) -> None:
    for relay in topo.relays:
        start(lab_dir, topo, relay)
    for relay in topo.relays:
        wait_until(
            f"SB relay {relay.name} to sync", lambda r=relay: serving(lab_dir, r), timeout=30
        )


def pid(lab_dir: Path, relay: Relay) -> int | None:
    return owned_pid(files(lab_dir, relay)["pid"], str(lab_dir))
