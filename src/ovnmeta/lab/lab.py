"""The lab as a library: `Lab(prefix)` brings a topology up and down and runs its tenants.

Bring-up goes in deployment steps, each done in parallel across nodes:
Open vSwitch (computes) -> OVN central (controllers) -> ovn-controller (computes).
"""

import fcntl
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from ovnmeta.core.errors import DependencyError, LabError, UsageError
from ovnmeta.core.procfs import alive, cmdline, mountpoints, owned_pid
from ovnmeta.lab import (
    central,
    compute,
    instance,
    logical,
    mariadb,
    netns,
    neutron_logical,
    neutron_server,
    neutron_venv,
    pki,
    relay,
    services,
)
from ovnmeta.lab.addressing import allocate, mac_for, plan_subnets
from ovnmeta.lab.neutron_client import Neutron
from ovnmeta.lab.proc import marked_pids, run, stop, wait_until
from ovnmeta.lab.state import InstanceRecord, LabState, NetworkRecord, load, save
from ovnmeta.lab.topology import (
    MAX_SB_RELAYS,
    SB_CLIENT_PORT,
    SB_RELAY_PORT_BASE,
    Controller,
    Topology,
    instance_netns,
    node_netns_pattern,
    plan,
    validate_prefix,
    validate_vm_name,
)

DEFAULT_ROOT = Path("/run/ovnmeta/lab")
DEFAULT_PREFIX = "ovnlab"
TEARDOWN_PASSES = 10  # rescans until one finds no process of the lab
BRING_UP_WAIT_S = 90  # chassis registered, tunnels up: seconds here, minutes on a loaded host

# program -> the Debian package that ships it (named in the error when it is missing)
REQUIRED_PROGRAMS = {
    "ovsdb-server": "openvswitch-switch",
    "ovs-vswitchd": "openvswitch-switch",
    "ovs-vsctl": "openvswitch-switch",
    "ovsdb-tool": "openvswitch-common",
    "ovn-northd": "ovn-central",
    "ovn-controller": "ovn-host",
    "ovn-nbctl": "ovn-common",
    "ovn-sbctl": "ovn-common",
    "ovn-appctl": "ovn-common",
    "ip": "iproute2",
    "ethtool": "ethtool",
    "busybox": "busybox",
}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def check_programs(programs: dict[str, str] = REQUIRED_PROGRAMS) -> None:
    for prog, package in programs.items():
        if shutil.which(prog) is None:
            raise DependencyError(
                f"{prog} not found: install the Debian package {package} (or run 'make setup')"
            )


def lab_root() -> Path:
    return Path(os.environ.get("OVNMETA_LAB_ROOT", DEFAULT_ROOT))


class Lab:
    def __init__(self, prefix: str = DEFAULT_PREFIX, root: Path | None = None) -> None:
        self.prefix = validate_prefix(prefix)
        self.root = root or lab_root()
        self.dir = self.root / prefix

    # --- state -------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One mutating command per lab at a time (boot and network create update lab.json)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / f"{self.prefix}.lock"
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if not self.dir.exists():  # no lab (down, or a command on a missing one)
                    lock.unlink(missing_ok=True)

    def state(self) -> LabState:
        st = load(self.dir)
        if st is None or st.phase != "up":
            raise UsageError(
                f"lab {self.prefix!r} is not up (run 'ovnmeta lab up --name {self.prefix}')"
            )
        return st

    def topology(self, st: LabState | None = None) -> Topology:
        st = st or self.state()
        return plan(st.prefix, st.controllers, st.computes, st.sb_relays, st.ssl)

    def northbound(self, st: LabState | None = None) -> logical.Northbound:
        return logical.Northbound(self.dir, self.topology(st))

    def neutron(self, st: LabState | None = None) -> Neutron:
        """The lab's neutron API (`lab up --neutron`)."""
        st = st or self.state()
        if not st.neutron:
            raise UsageError(f"lab {self.prefix!r} runs without neutron (lab up --neutron)")
        return Neutron(neutron_server.api_port(self.dir))

    # --- up / down ---------------------------------------------------------------------

    def up(
        self,
        controllers: int = 1,
        computes: int = 1,
        progress: Progress = _quiet,
        sb_relays: int = 0,
        ssl: bool = False,
        neutron: bool = False,
    ) -> LabState:
        topo = plan(self.prefix, controllers, computes, sb_relays, ssl)
        if os.geteuid() != 0:
            raise UsageError("the lab needs root (network namespaces, OVS datapath)")
        check_programs({**REQUIRED_PROGRAMS, **(mariadb.PROGRAMS if neutron else {})})
        venv = neutron_venv.ensure(progress=progress) if neutron else None
        with self.locked():
            old = load(self.dir) if (self.dir / "lab.json").exists() else None
            if old and old.phase == "up" and self._daemons_alive(old):
                raise UsageError(
                    f"lab {self.prefix!r} is already up (run 'ovnmeta lab down "
                    f"--name {self.prefix}' first, or pick another --name)"
                )
            if old or self.dir.exists() or self._leftover_namespaces():
                progress("cleaning up what a previous run left behind")
                self._teardown()
            st = LabState(
                prefix=self.prefix,
                controllers=controllers,
                computes=computes,
                sb_relays=sb_relays,
                ssl=ssl,
                neutron=neutron,
            )
            self.dir.mkdir(parents=True)
            # A private mount, so the computes' persistent mount namespaces can live in it.
            run(["mount", "--bind", str(self.dir), str(self.dir)])
            run(["mount", "--make-private", str(self.dir)])
            save(self.dir, st)
            try:
                self._bring_up(topo, st, progress, venv)
            except BaseException:
                progress("bring-up failed: tearing the half-built lab down")
                self._teardown()
                raise
            st.phase = "up"
            save(self.dir, st)
            return st

    def _bring_up(
        self,
        topo: Topology,
        st: LabState,
        progress: Progress,
        venv: neutron_venv.NeutronVenv | None = None,
    ) -> None:
        t0 = time.monotonic()
        neutron_steps = []
        if venv is not None:
            neutron_steps = [
                (
                    "neutron",
                    "neutron: API (ML2/OVN) on the lab's NB and SB",
                    lambda: self._start_neutron(topo, venv, database),
                )
            ]
        steps = [
            ("underlay", "underlay and node namespaces", lambda: self._build_nodes(topo, pool)),
            *(
                [("pki", "a CA and a certificate per node (--ssl)", lambda: self._issue(topo))]
                if topo.ssl
                else []
            ),
            (
                "ovs",
                "step 1/4: Open vSwitch on computes",
                lambda: list(pool.map(lambda c: self._start_compute(topo, c), topo.computes)),
            ),
            (
                "central",
                f"step 2/4: OVN central ({len(topo.controllers)} controller"
                f"{'s, RAFT' if len(topo.controllers) > 1 else ''}"
                f"{f', {len(topo.relays)} SB relays' if topo.relays else ''})",
                lambda: (central.bring_up(self.dir, topo, pool), relay.bring_up(self.dir, topo)),
            ),
            *neutron_steps,
            (
                "ovn-controller",
                "step 3/4: ovn-controller on computes",
                lambda: self._start_controllers(topo, pool),
            ),
            (
                "metadata",
                "step 4/4: metadata API on controllers, metadata agent on computes",
                lambda: self._start_metadata_services(topo, pool),
            ),
        ]
        with ThreadPoolExecutor(max_workers=max(4, 2 * len(topo.computes))) as pool:
            # MariaDB and neutron's migrations need no OVN: they run while the nodes come up.
            database = (
                pool.submit(neutron_server.prepare_database, self.dir, venv, progress)
                if venv is not None
                else None
            )
            for key, label, action in steps:
                started = time.monotonic()
                progress(f"{label} ...")
                action()
                st.timings[key] = round(time.monotonic() - started, 3)
                progress(f"{label}: done in {st.timings[key]:.2f} s")
        instance.write_dhcp_script(self.dir)
        st.timings["up"] = round(time.monotonic() - t0, 3)

    def _start_neutron(self, topo: Topology, venv: neutron_venv.NeutronVenv, database) -> None:
        database.result()
        nb = central.unix_remotes(self.dir, topo, central.NB)
        sb = central.unix_remotes(self.dir, topo, central.SB)
        neutron_server.start_api(self.dir, venv, nb, sb, host=topo.controllers[0].name)
        neutron_server.wait_api(self.dir)

    def _issue(self, topo: Topology) -> None:
        pki.init(self.dir)
        for node in (*topo.controllers, *topo.computes):
            pki.issue(self.dir, node.name)

    def _build_nodes(self, topo: Topology, pool: ThreadPoolExecutor) -> None:
        ul = topo.underlay_netns
        netns.add(ul, ipv6=False)
        netns.shell(
            ul, "ip link add br-ul type bridge stp_state 0 forward_delay 0; ip link set br-ul up"
        )
        # Computes keep IPv6 on, as a hypervisor does: the agent serves fe80::a9fe:a9fe only
        # when the host has IPv6 enabled. The underlay itself stays IPv4-only.
        nodes = [(c.netns, c.name, c.mac, False) for c in topo.controllers]
        nodes += [(c.netns, c.name, c.eth_mac, True) for c in topo.computes]

        def node(ns: str, name: str, mac: str, ipv6: bool) -> None:
            netns.add(ns, ipv6=ipv6)
            netns.veth(ul, f"u-{name}", ns)
            netns.shell(ul, f"ip link set u-{name} master br-ul up; {netns.tx_off(f'u-{name}')}")
            off = "; sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1" if ipv6 else ""
            netns.shell(ns, f"ip link set eth0 address {mac}; {netns.tx_off('eth0')}{off}")

        list(pool.map(lambda n: node(*n), nodes))
        list(pool.map(lambda c: central.create_node(self.dir, topo, c), topo.controllers))

    def _start_metadata_services(self, topo: Topology, pool: ThreadPoolExecutor) -> None:
        """Step 4: render each node's config from its deployment parameters, then start the
        metadata API on every controller and the agent on every compute (never both)."""
        services.write_secret(self.dir)
        starts = [lambda c=c: services.start_metadata_api(self.dir, c) for c in topo.controllers]
        starts += [lambda c=c: services.start_agent(self.dir, topo, c) for c in topo.computes]
        list(pool.map(lambda start: start(), starts))
        list(pool.map(lambda c: services.wait_metadata_api(self.dir, c), topo.controllers))
        nb = logical.Northbound(self.dir, topo)
        list(pool.map(lambda c: services.wait_agent_registered(self.dir, nb, c), topo.computes))

    def _start_compute(self, topo: Topology, cmp: compute.Compute) -> None:
        compute.start_ovs(self.dir, topo, cmp)
        compute.create_mount_namespace(self.dir, cmp)

    def _start_controllers(self, topo: Topology, pool: ThreadPoolExecutor) -> None:
        list(pool.map(lambda c: compute.start_ovn_controller(self.dir, c), topo.computes))
        nb = logical.Northbound(self.dir, topo)
        for cmp in topo.computes:
            nb.sbctl("wait-until", "Chassis", cmp.chassis, timeout=BRING_UP_WAIT_S, retry_for=30)
        peers = len(topo.computes) - 1

        def tunnels_ready(cmp: compute.Compute) -> None:
            def tunnels() -> int:
                found = compute.vsctl(
                    self.dir, cmp, "--bare", "--columns=name", "find", "Interface", "type=geneve"
                )
                return len(found.split())

            wait_until(
                f"{peers} geneve tunnels on {cmp.name}",
                lambda: tunnels() >= peers,
                timeout=BRING_UP_WAIT_S,
            )
            # vswitchd learns tunnel next hops only from ARP replies to its own kernel's
            # requests, and a tnl/neigh miss drops the packet that needed it: seed every
            # peer's br-phy MAC (fixed by plan) instead of hoping for ARP traffic.
            for other in topo.computes:
                if other is not cmp:
                    compute.appctl(
                        self.dir, cmp, "tnl/neigh/set", "br-phy", other.ip, other.brphy_mac
                    )

        list(pool.map(tunnels_ready, topo.computes))

    def down(self, progress: Progress = _quiet) -> None:
        with self.locked():
            self._teardown(progress)

    def _teardown(self, progress: Progress = _quiet) -> None:
        # An agent that is still reconciling can start its edge haproxy (which detaches into
        # a session of its own) after any scan: stop the agents first, then scan again until
        # a pass finds nothing.
        for _ in range(TEARDOWN_PASSES):
            ours = self._our_pids()
            if not ours:
                break
            spawners = [p for p in ours if _spawns_others(p)]
            progress(f"stopping {len(spawners or ours)} processes")
            stop(spawners or ours)
        else:
            left = ", ".join(f"{p} ({cmdline(p)[:60]})" for p in ours)
            raise LabError(
                f"lab {self.prefix}: processes still appear after {TEARDOWN_PASSES} passes: {left}"
            )
        namespaces = self._leftover_namespaces()
        for ns in namespaces:
            netns.delete(ns)
        if namespaces:
            progress(f"deleted {len(namespaces)} namespaces")
        # Deepest first: the computes' mount namespaces (which drop the agents' network
        # namespaces with them), then the lab directory's own bind mount.
        for mountpoint in sorted(_mounts_under(self.dir), key=len, reverse=True):
            run(["umount", "--lazy", mountpoint], check=False)
        if self.dir.exists():
            assert self.dir.parent == self.root and self.prefix in self.dir.name
            shutil.rmtree(self.dir)

    def _our_pids(self) -> list[int]:
        """Live processes of this lab: by command line, or inside one of its namespaces."""
        ours = marked_pids(str(self.dir) + "/")
        for ns in self._leftover_namespaces():
            ours += netns.pids(ns)
        ours += self._pids_in_compute_namespaces()
        return sorted({p for p in ours if alive(p)})

    def _pids_in_compute_namespaces(self) -> list[int]:
        """Processes inside the namespaces the agents made in the computes' own /run/netns."""
        pids: list[int] = []
        for mntns in self.dir.glob("cmp*/mntns"):
            names = [p.name for p in (mntns.parent / "netns").iterdir()]
            for name in names:
                out = run(["nsenter", f"--mount={mntns}", "ip", "netns", "pids", name], check=False)
                pids += [int(p) for p in out.split()]
        return pids

    def _leftover_namespaces(self) -> list[str]:
        pattern = node_netns_pattern(self.prefix)
        return sorted(ns for ns in netns.existing() if pattern.match(ns))

    def _daemons_alive(self, st: LabState) -> bool:
        topo = self.topology(st)
        pidfiles = [f for c in topo.controllers for _, f in central.daemons(self.dir, c)]
        pidfiles += [f for c in topo.computes for _, f in compute.daemons(self.dir, c)]
        return all(owned_pid(f, str(self.dir)) for f in pidfiles)

    # --- tenants -----------------------------------------------------------------------

    def create_network(
        self,
        name: str,
        cidrs: Sequence[str],
        metadata: bool = True,
        project: str = logical.DEFAULT_PROJECT,
    ) -> NetworkRecord:
        subnets = plan_subnets(cidrs)
        with self.locked():
            st = self.state()
            if name in st.networks:
                raise UsageError(f"network {name!r} already exists in lab {self.prefix!r}")
            if st.neutron:
                if not metadata:
                    raise UsageError(
                        "--no-metadata: with --neutron, metadata is neutron's global "
                        "[ovn] ovn_metadata_enabled (on in the lab)"
                    )
                net = neutron_logical.create_network(self.neutron(st), name, subnets, project)
            else:
                net = logical.create_network(self.northbound(st), name, subnets, metadata, project)
            st.networks[name] = net
            save(self.dir, st)
            return net

    def delete_network(self, name: str) -> None:
        with self.locked():
            st = self.state()
            net = self._network(st, name)
            users = [v.name for v in st.instances.values() if v.network == name]
            if users:
                raise UsageError(f"network {name!r} still has instances: {', '.join(users)}")
            if st.neutron:
                neutron_logical.delete_network(self.neutron(st), net)
            else:
                logical.delete_network(self.northbound(st), net)
            del st.networks[name]
            save(self.dir, st)

    def boot(
        self,
        name: str,
        network: str,
        compute_ref: str | int,
        project: str | None = None,
        user_data: bytes | None = None,
        keys: Sequence[tuple[str, str]] = (),
        meta: Mapping[str, str] | None = None,
    ) -> InstanceRecord:
        """Register the instance with the metadata API, then plug it and let it DHCP."""
        validate_vm_name(name)
        with self.locked():
            st = self.state()
            topo = self.topology(st)
            net = self._network(st, network)
            cmp = topo.compute(compute_ref)
            if name in st.instances:
                raise UsageError(f"instance {name!r} already exists in lab {self.prefix!r}")
            used = {a for v in st.instances.values() if v.network == network for a in v.addresses}
            vm = instance_record(self.prefix, net, cmp.name, name, used, project)
            nb = self.northbound(st)
            try:
                if st.neutron:  # neutron picks the port id; the instance is registered with it
                    vm.port = neutron_logical.add_instance_port(
                        self.neutron(st), net, vm, cmp.chassis
                    )
                services.register_instance(self.dir, vm, net, user_data, keys, meta or {})
                if not st.neutron:
                    logical.add_instance_port(nb, net, vm, cmp.chassis)
                instance.plug(self.dir, cmp, vm, ipv6=any(":" in c for c in net.cidrs))
                logical.wait_port_up(nb, vm.port)
                vm.dhcp = instance.run_dhcp(self.dir, vm)
                instance.configure_static_ipv6(vm, net.cidrs)
                logical.wait_all_chassis(nb)
            except BaseException:
                instance.unplug(self.dir, cmp, vm)
                self._delete_port(st, vm.port)
                services.unregister_instance(self.dir, vm.id)
                raise
            st.instances[name] = vm
            save(self.dir, st)
            return vm

    def bind_vif(self, network: str, index: int, compute_ref: str | int = 1) -> str:
        """A bound VIF without a guest namespace (an OVS internal port): what makes an agent
        serve a network, at a fraction of a boot's cost (benches, teardown races)."""
        with self.locked():
            st = self.state()
            net = self._network(st, network)
            cmp = self.topology(st).compute(compute_ref)
            vm = bound_port(net, cmp.name, index)
            if st.neutron:
                vm.port = neutron_logical.add_instance_port(self.neutron(st), net, vm, cmp.chassis)
            else:
                logical.add_instance_port(self.northbound(st), net, vm, cmp.chassis)
            instance.bind(self.dir, cmp, bound_device(index), vm.port, "type=internal")
            return vm.port

    def bound_networks(
        self, names: Sequence[str], first_index: int, compute_ref: str | int = 1
    ) -> None:
        """Networks with one bound VIF each (index first_index, first_index + 1, ...), all
        in one NB transaction for the networks, one for the ports and one OVS transaction
        for the VIFs, which are OVS dummy interfaces (`type=dummy`, no kernel device).
        ovn-controller claims them like any VIF, so the agent serves their networks for
        real (namespace, veth on br-int, edge frontend); nothing can send from them. The
        lab's userspace ovs-vswitchd pays per kernel device on every netlink change
        (docs/agent.md, "1,000 networks on one compute"): this keeps hundreds of networks
        to one kernel device each, the agent's own metadata veth."""
        with self.locked():
            st = self.state()
            if st.neutron:
                raise UsageError("bound networks in bulk: not with --neutron (use bind_vif)")
            taken = sorted(set(names) & set(st.networks))
            if taken:
                raise UsageError(f"networks already exist in lab {self.prefix!r}: {taken}")
            cmp = self.topology(st).compute(compute_ref)
            nb = self.northbound(st)
            subnets = plan_subnets(["10.0.0.0/24"])
            nets = logical.create_networks(
                nb, [(name, subnets) for name in names], True, logical.DEFAULT_PROJECT
            )
            ports = []
            for i, net in enumerate(nets, first_index):
                st.networks[net.name] = net
                ports.append((net, bound_port(net, cmp.name, i)))
            save(self.dir, st)
            logical.add_instance_ports(nb, ports, cmp.chassis)
            plugs = [(bound_device(i), vm.port) for i, (_, vm) in enumerate(ports, first_index)]
            instance.bind_many(self.dir, cmp, plugs, "type=dummy", timeout=300)

    def remove_instance(self, name: str) -> None:
        with self.locked():
            st = self.state()
            vm = self.instance(name, st)
            instance.unplug(self.dir, self.topology(st).compute(vm.compute), vm)
            self._delete_port(st, vm.port)
            services.unregister_instance(self.dir, vm.id)
            del st.instances[name]
            save(self.dir, st)

    def _delete_port(self, st: LabState, port: str) -> None:
        if st.neutron:
            neutron_logical.delete_port(self.neutron(st), port)
        else:
            logical.delete_port(self.northbound(st), port)

    def instance(self, name: str, st: LabState | None = None) -> InstanceRecord:
        st = st or self.state()
        if name not in st.instances:
            known = ", ".join(sorted(st.instances)) or "none"
            raise UsageError(f"unknown instance {name!r} (this lab has: {known})")
        return st.instances[name]

    @staticmethod
    def _network(st: LabState, name: str) -> NetworkRecord:
        if name not in st.networks:
            known = ", ".join(sorted(st.networks)) or "none"
            raise UsageError(f"unknown network {name!r} (this lab has: {known})")
        return st.networks[name]

    def exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        if not argv:
            raise UsageError("nothing to run: give a command after '--'")
        return ["ip", "netns", "exec", self.instance(name).netns, *argv]

    def run_in(self, name: str, argv: Sequence[str], timeout: float = 60) -> str:
        return run(self.exec_argv(name, argv), timeout=timeout)

    def compute_argv(self, compute_ref: str | int, argv: Sequence[str]) -> list[str]:
        """argv run on a compute as a host service: its network and mount namespaces."""
        return compute.nsenter_argv(self.dir, self.topology().compute(compute_ref), argv)

    def run_on_compute(
        self, compute_ref: str | int, argv: Sequence[str], timeout: float = 60
    ) -> str:
        return run(self.compute_argv(compute_ref, argv), timeout=timeout)

    @staticmethod
    def run_on_node(node_netns: str, argv: Sequence[str], timeout: float = 60) -> str:
        return run(argv, netns=node_netns, timeout=timeout)

    # --- ovnmeta's services ----------------------------------------------------------------

    def stop_ovn_controller(self, compute_ref: str | int) -> None:
        cmp = self.topology().compute(compute_ref)
        pid = owned_pid(dict(compute.daemons(self.dir, cmp))["ovn-controller"], str(self.dir))
        if pid is not None:
            stop([pid])

    def start_ovn_controller(self, compute_ref: str | int) -> None:
        compute.start_ovn_controller(self.dir, self.topology().compute(compute_ref))

    def agent_pid(self, compute_ref: str | int) -> int | None:
        return services.agent_pid(self.dir, self.topology().compute(compute_ref))

    def stop_agent(self, compute_ref: str | int, sig: int = signal.SIGTERM) -> None:
        """Stop one agent the way systemd (SIGTERM) or a crash (SIGKILL) would."""
        pid = self.agent_pid(compute_ref)
        if pid is not None:
            os.kill(pid, sig)
            wait_until("the agent to exit", lambda: not alive(pid), timeout=15)

    def start_agent(self, compute_ref: str | int, secret: str | None = None) -> int:
        topo = self.topology()
        return services.start_agent(self.dir, topo, topo.compute(compute_ref), secret)

    def set_agent_role(self, compute_ref: str | int, ovn_agent: bool) -> None:
        """The role of the compute's next agent start: neutron-ovn-agent with the metadata
        extension (`ovn_agent=True`) or neutron-ovn-metadata-agent."""
        services.set_agent_role(self.dir, self.topology().compute(compute_ref), ovn_agent)

    def agent_log(self, compute_ref: str | int) -> str:
        path = services.agent_log(self.dir, self.topology().compute(compute_ref))
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_metadata_api(self, ctl_name: str = "ctl1") -> None:
        ctl = self._controller(ctl_name)
        pid = owned_pid(services.api_pidfile(self.dir, ctl), str(self.dir))
        if pid is not None:
            stop([pid])

    def start_metadata_api(self, ctl_name: str = "ctl1") -> None:
        ctl = self._controller(ctl_name)
        services.start_metadata_api(self.dir, ctl)
        services.wait_metadata_api(self.dir, ctl)

    def _controller(self, name: str) -> Controller:
        for ctl in self.topology().controllers:
            if ctl.name == name:
                return ctl
        raise UsageError(f"unknown controller {name!r}")

    # --- operations used by failover tests -----------------------------------------------

    def controller_db_pid(self, ctl_name: str, db: str) -> int | None:
        topo = self.topology()
        ctl = next(c for c in topo.controllers if c.name == ctl_name)
        database = central.NB if db == "nb" else central.SB
        return owned_pid(database.files(central.node_dir(self.dir, ctl))["pid"], str(self.dir))

    def start_controller_db(self, ctl_name: str, db: str) -> None:
        topo = self.topology()
        ctl = next(c for c in topo.controllers if c.name == ctl_name)
        central.start_db(self.dir, ctl, central.NB if db == "nb" else central.SB)

    def relay_pid(self, ref: str | int) -> int | None:
        topo = self.topology()
        return relay.pid(self.dir, topo.relay(ref))

    def stop_relay(self, ref: str | int, sig: int = signal.SIGKILL) -> None:
        pid = self.relay_pid(ref)
        if pid is not None:
            os.kill(pid, sig)
            wait_until("the SB relay to exit", lambda: not alive(pid), timeout=15)

    def start_relay(self, ref: str | int) -> None:
        topo = self.topology()
        r = topo.relay(ref)
        relay.start(self.dir, topo, r)
        wait_until(f"SB relay {r.name} to sync", lambda: relay.serving(self.dir, r), timeout=30)

    def sb_peer_ports(
        self, compute_ref: str | int, program: str = "", pid: int | None = None
    ) -> set[int]:
        """Remote ports of the established TCP connections on a compute to the SB, a member or
        a relay, of `program` (by name) or of process `pid`: which server a client is on now."""
        out = self.run_on_compute(compute_ref, ["ss", "-Htnp", "state", "established"])
        mine = f"pid={pid}," if pid is not None else f'(("{program}",'
        ports = set()
        for line in out.splitlines():
            if mine not in line:
                continue
            port = int(line.split()[3].rsplit(":", 1)[1])
            relay = SB_RELAY_PORT_BASE < port <= SB_RELAY_PORT_BASE + MAX_SB_RELAYS
            if port == SB_CLIENT_PORT or relay:
                ports.add(port)
        return ports

    def leader(self, db: str) -> str | None:
        """Name of the controller whose member of `db` is the RAFT leader."""
        topo = self.topology()
        database = central.NB if db == "nb" else central.SB
        for ctl in topo.controllers:
            if central.is_leader(central.cluster_status(self.dir, ctl, database)):
                return ctl.name
        return None


def instance_record(
    prefix: str,
    net: NetworkRecord,
    compute_name: str,
    name: str,
    used: set[str],
    project: str | None = None,
) -> InstanceRecord:
    """A new instance's record: fresh ids, its MAC, the lowest free address of each subnet
    (not in `used`), its namespace and VIF names."""
    port = str(uuid.uuid4())
    return InstanceRecord(
        name=name,
        id=str(uuid.uuid4()),
        port=port,
        network=net.name,
        compute=compute_name,
        project=project or net.project,
        mac=mac_for(port),
        addresses=[allocate(s, used) for s in plan_subnets(net.cidrs)],
        netns=instance_netns(prefix, name),
        vif=instance.vif_name(name),
    )


def bound_port(net: NetworkRecord, compute_name: str, index: int) -> InstanceRecord:
    """The record of bound VIF number `index` (Lab.bind_vif, Lab.bound_networks)."""
    return static_port(
        net, compute_name, f"p{index}", f"fa:16:3f:00:{index >> 8:02x}:{index & 255:02x}"
    )


def bound_device(index: int) -> str:
    """The OVS interface of bound VIF number `index`."""
    return f"bp{index}"


def static_port(
    net: NetworkRecord, compute_name: str, name: str, mac: str, netns: str = "", vif: str = ""
) -> InstanceRecord:
    """A port record with the fixed address 10.0.0.10 and no DHCP, for ports the lab binds
    without booting a guest (benches, teardown races); `netns`/`vif` if a namespace goes on it."""
    return InstanceRecord(
        name=name,
        id=str(uuid.uuid4()),
        port=str(uuid.uuid4()),
        network=net.name,
        compute=compute_name,
        project=net.project,
        mac=mac,
        addresses=["10.0.0.10"],
        netns=netns,
        vif=vif,
    )


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    return [p for p in mountpoints() if p == prefix or p.startswith(prefix + "/")]


def _spawns_others(pid: int) -> bool:
    """The agent (`python -m ovnmeta agent ...`): it starts the edge and the socket holder."""
    argv = cmdline(pid).split()
    return "agent" in argv[:4] and any(a == "ovnmeta" or a.endswith("/ovnmeta") for a in argv[:3])
