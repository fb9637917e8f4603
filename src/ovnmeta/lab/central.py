"""OVN central on the controllers: NB and SB as RAFT clusters, one ovn-northd per controller.

With one controller the databases are one-member clusters, so the code path (and the way
tools reach them) is the same as with three.
"""

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ovnmeta.lab import netns, pki
from ovnmeta.lab.proc import daemon_flags, run, wait_until
from ovnmeta.lab.topology import NB_CLIENT_PORT, SB_CLIENT_PORT, Controller, Topology


@dataclass(frozen=True)
class Database:
    key: str  # "nb" | "sb"
    schema_name: str
    schema_file: str
    client_port: int

    def files(self, node_dir: Path) -> dict[str, Path]:
        base = f"ovn{self.key}_db"
        return {
            "db": node_dir / f"{base}.db",
            "sock": node_dir / f"{base}.sock",
            "ctl": node_dir / f"{base}.ctl",
            "pid": node_dir / f"{base}.pid",
            "log": node_dir / f"ovsdb-server-{self.key}.log",
        }


NB = Database("nb", "OVN_Northbound", "/usr/share/ovn/ovn-nb.ovsschema", NB_CLIENT_PORT)
SB = Database("sb", "OVN_Southbound", "/usr/share/ovn/ovn-sb.ovsschema", SB_CLIENT_PORT)
DATABASES = (NB, SB)

_LEADER_RE = re.compile(r"^Leader: (self|[0-9a-f]+)$", re.M)


def node_dir(lab_dir: Path, ctl: Controller) -> Path:
    return lab_dir / ctl.name


def unix_remotes(lab_dir: Path, topo: Topology, db: Database) -> str:
    """Remotes for tools in the root netns: UNIX sockets cross namespaces, TCP does not."""
    return ",".join(f"unix:{db.files(node_dir(lab_dir, c))['sock']}" for c in topo.controllers)


def create_node(lab_dir: Path, topo: Topology, ctl: Controller) -> None:
    """Namespace with the underlay address; the veth is plugged by the caller."""
    node_dir(lab_dir, ctl).mkdir(parents=True, exist_ok=True)
    netns.shell(
        ctl.netns,
        f"ip addr add {ctl.ip}/24 dev eth0; ip link set eth0 up",
    )


def create_cluster_files(lab_dir: Path, topo: Topology) -> None:
    """Member 1 creates each cluster; the others join with their own address first."""
    first, *others = topo.controllers
    for db in DATABASES:
        run(
            [
                "ovsdb-tool",
                "create-cluster",
                str(db.files(node_dir(lab_dir, first))["db"]),
                db.schema_file,
                first.raft_address(db.key),
            ]
        )
        for ctl in others:
            peers = [c.raft_address(db.key) for c in topo.controllers if c is not ctl]
            run(
                [
                    "ovsdb-tool",
                    "join-cluster",
                    str(db.files(node_dir(lab_dir, ctl))["db"]),
                    db.schema_name,
                    ctl.raft_address(db.key),
                    *peers,
                ]
            )


def start_db(lab_dir: Path, ctl: Controller, db: Database) -> None:
    serve_db(
        db.files(node_dir(lab_dir, ctl)),
        ctl.netns,
        remotes=(f"p{ctl.scheme}:{db.client_port}:{ctl.ip}",),
        extra=pki.flags(lab_dir, ctl.name),
    )


def serve_db(
    files: Mapping[str, Path],
    netns: str | None = None,
    remotes: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> None:
    """One ovsdb-server for a database file: a UNIX socket for clients in any namespace, plus
    `remotes` (and `extra` flags: TLS files). Shared by the controllers and the single-node
    host."""
    run(
        [
            "ovsdb-server",
            str(files["db"]),
            f"--remote=punix:{files['sock']}",
            *(f"--remote={r}" for r in remotes),
            *extra,
            *daemon_flags(files["pid"], files["log"], files["ctl"]),
        ],
        netns=netns,
    )


def cluster_status(lab_dir: Path, ctl: Controller, db: Database) -> str:
    ctl_sock = db.files(node_dir(lab_dir, ctl))["ctl"]
    return run(
        ["ovn-appctl", "--timeout=5", "-t", str(ctl_sock), "cluster/status", db.schema_name],
        check=False,
        timeout=10,
    )


def member_healthy(status: str, members: int) -> bool:
    return (
        "Status: cluster member" in status
        and _LEADER_RE.search(status) is not None
        and status.count(" at tcp:") >= members
    )


def is_leader(status: str) -> bool:
    return "Role: leader" in status


def start_northd(lab_dir: Path, topo: Topology, ctl: Controller) -> None:
    d = node_dir(lab_dir, ctl)
    run(
        [
            "ovn-northd",
            f"--ovnnb-db={topo.remotes('nb')}",
            f"--ovnsb-db={topo.remotes('sb')}",
            *pki.flags(lab_dir, ctl.name),
            *daemon_flags(d / "ovn-northd.pid", d / "ovn-northd.log", d / "ovn-northd.ctl"),
        ],
        netns=ctl.netns,
    )


def northd_status(lab_dir: Path, ctl: Controller) -> str:
    out = run(
        [
            "ovn-appctl",
            "--timeout=5",
            "-t",
            str(node_dir(lab_dir, ctl) / "ovn-northd.ctl"),
            "status",
        ],
        check=False,
        timeout=10,
    )
    return out.strip().removeprefix("Status: ")


def bring_up(lab_dir: Path, topo: Topology, pool: ThreadPoolExecutor) -> None:
    create_cluster_files(lab_dir, topo)
    starts = [(c, db) for c in topo.controllers for db in DATABASES]
    list(pool.map(lambda cd: start_db(lab_dir, *cd), starts))
    members = len(topo.controllers)
    for ctl, db in starts:
        wait_until(
            f"{db.schema_name} member on {ctl.name} to join the cluster",
            lambda ctl=ctl, db=db: member_healthy(cluster_status(lab_dir, ctl, db), members),
            timeout=30,
        )
    list(pool.map(lambda c: start_northd(lab_dir, topo, c), topo.controllers))
    wait_until(
        "an active ovn-northd",
        lambda: any(northd_status(lab_dir, c) == "active" for c in topo.controllers),
        timeout=30,
    )


def daemons(lab_dir: Path, ctl: Controller) -> Sequence[tuple[str, Path]]:
    d = node_dir(lab_dir, ctl)
    return [
        ("ovsdb-server-nb", NB.files(d)["pid"]),
        ("ovsdb-server-sb", SB.files(d)["pid"]),
        ("ovn-northd", d / "ovn-northd.pid"),
    ]


def pause_northd(lab_dir: Path, ctl: Controller) -> None:
    """`ovn-appctl pause`: northd stops writing the SB (and so leaves rows without an NB
    counterpart alone: the synthetic cloud of bench/synthetic_cloud_bench.py)."""
    ctl_sock = node_dir(lab_dir, ctl) / "ovn-northd.ctl"
    run(["ovn-appctl", "--timeout=10", "-t", str(ctl_sock), "pause"], timeout=15)
