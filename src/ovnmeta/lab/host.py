"""A single-node host: one hypervisor's Open vSwitch and an OVN Southbound database, for tests
and benchmarks that play ovn-northd and ovn-controller themselves (they write SB rows
directly) and run the agent as a process next to it.

Built from the lab's own pieces (`compute.start_switch`, `central.serve_db`, `proc`), so the
lab and its single-node users share one OVS/OVN start-up. It runs in the caller's network
namespace (a caller wanting isolation unshares first), with every file under `dir`, which is
also the ownership marker of its processes (lab-recipe section 8).

Left out on purpose, because they would undo the rows a test writes as they would:
ovn-northd deletes Datapath_Binding and Port_Binding rows that have no Northbound object and
owns SB_Global.nb_cfg; ovn-controller releases ports bound to its chassis without a local
interface and owns its Chassis and Chassis_Private rows. Without ovn-controller's flows,
br-int is a standalone L2 switch, which is all a metadata path on one node needs.
"""

import shutil
from pathlib import Path

from ovnmeta.core.procfs import owned_pid
from ovnmeta.lab import central, compute
from ovnmeta.lab.lab import check_programs
from ovnmeta.lab.proc import marked_pids, run, stop

PROGRAMS = {
    "ovsdb-server": "openvswitch-switch",
    "ovs-vswitchd": "openvswitch-switch",
    "ovs-vsctl": "openvswitch-switch",
    "ovsdb-tool": "openvswitch-common",
    "ovn-sbctl": "ovn-common",
}


class SingleNodeHost:
    def __init__(self, dir: Path, chassis: str) -> None:
        self.dir = dir
        self.chassis = chassis
        self.sb = central.SB.files(dir)

    @property
    def ovs_sock(self) -> Path:
        return compute.switch_sock(self.dir)

    @property
    def sb_sock(self) -> Path:
        return self.sb["sock"]

    @property
    def sb_db(self) -> Path:
        """The SB database file, writable with `ovsdb-tool transact` while the server is down."""
        return self.sb["db"]

    def up(self) -> None:
        check_programs(PROGRAMS)
        self.dir.mkdir(parents=True, exist_ok=True)
        identity = {"system-id": self.chassis, "hostname": self.chassis, "ovn-bridge": "br-int"}
        compute.start_switch(self.dir, identity)
        self.vsctl("--may-exist", *compute.br_int("standalone"))
        # Standalone, not a one-member RAFT cluster as on the lab's controllers: only a
        # standalone file can be edited offline (a test changes the SB while it is down).
        run(["ovsdb-tool", "create", str(self.sb_db), central.SB.schema_file])
        self.start_sb()
        self.sbctl("init")

    def start_sb(self) -> None:
        central.serve_db(self.sb)

    def stop_sb(self) -> None:
        pid = owned_pid(self.sb["pid"], str(self.dir))
        if pid is not None:
            stop([pid])

    def vsctl(self, *args: str) -> str:
        return compute.switch_vsctl(self.dir, *args, timeout=10).strip()

    def sbctl(self, *args: str) -> str:
        return run(
            ["ovn-sbctl", f"--db=unix:{self.sb_sock}", "--timeout=10", *args], timeout=15
        ).strip()

    def logs(self, tail: int = 20) -> str:
        """The last lines of every log under the host's directory (a failed test prints them)."""
        out = []
        for log in sorted(self.dir.rglob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"--- {log.relative_to(self.dir)}\n" + "\n".join(lines))
        return "\n".join(out)

    def down(self, keep_files: bool = False) -> None:
        """Stop every process that names the host's directory (its daemons, and what the
        caller started there: the agent, its edge and socket holder), then remove it."""
        stop(marked_pids(f"{self.dir}/"))
        if not keep_files:
            shutil.rmtree(self.dir, ignore_errors=True)
