"""In-memory implementations of the agent's seams (`agent.seams`) and a fake clock.

Fakes over mocks (style.md 5.7): `FakeHost` keeps namespaces, veths, OVS ports and the edge
as plain data and carries out `reconcile.actions` on them, so the real plan converges on it;
`FakeSb` hands the agent whatever changes a test sends; every seam call goes into one
`journal`, so a test can assert the order of the outside effects. Failures are injected with
attributes (`render_error`, `register_error`), slowness with gates (`asyncio.Event`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import textwrap
from collections.abc import Callable

from ovnmeta.agent import config
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.main import Agent
from ovnmeta.agent.metrics import Metrics
from ovnmeta.agent.reconcile import actions as a
from ovnmeta.agent.reconcile.observed import Link, NamespaceState, ObservedNetwork
from ovnmeta.agent.runtime import Clock
from ovnmeta.agent.sb import changes
from ovnmeta.agent.sb.index import Index
from ovnmeta.agent.seams import Sink
from ovnmeta.core import names
from ovnmeta.core.errors import OvsError
from ovnmeta.core.model import Identity, NetworkId

from .factories import OWN, datapath, meta, vif

SYSTEM_ID = "compute-1"


async def settle(rounds: int = 30) -> None:
    """Let every ready task run until it blocks (the fakes never block on I/O)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeClock:
    """Virtual time: `sleep` waits until a test `advance`s past its deadline."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, wall=lambda: 1.7e9 + self.now, sleep=self.sleep)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await settle()  # tasks woken before the call get to start their sleeps
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not fut.done():
                fut.set_result(None)
                await settle()
        self.now = target
        await settle()

    async def until(self, cond: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
        """Advance in small steps until `cond()` holds (virtual time: costs no real time)."""
        deadline = self.now + limit_s
        await settle()
        while not cond():
            if self.now >= deadline:
                raise AssertionError(f"not within {limit_s} s (virtual): {what}")
            await self.advance(0.01)


class FakeHost:
    """`seams.Dataplane` in memory: what `dataplane.observe` would read, what `apply` does."""

    def __init__(self, journal: list[str], identity: Identity | None = None) -> None:
        self.journal = journal
        self.ident = identity or Identity(SYSTEM_ID, "br-int")
        self.bridges = {self.ident.bridge}
        self.host_ipv6 = False
        self.namespaces: dict[str, dict[str, Link]] = {}  # namespace -> inner links by name
        self.root: dict[str, Link] = {}  # root ends by name
        self.peers: dict[str, tuple[str, str]] = {}  # root end -> (namespace, inner end)
        self.tx_off: set[tuple[str, str]] = set()
        self.hop_limits: dict[tuple[str, int], int] = {}  # (namespace, family) -> limit
        self.ports: dict[str, tuple[str, str]] = {}  # port -> (bridge, iface-id)
        self.applied: list[a.Action] = []
        self.adoptable: dict[NetworkId, Frontend] = {}
        self.renders: list[tuple[Frontend, ...]] = []
        self.served: tuple[Frontend, ...] = ()
        self.edge_pid: int | None = None
        self.maintained = 0  # maintain_edge calls
        self.render_error: Exception | None = None
        self.render_gate: asyncio.Event | None = None
        self.apply_gate: asyncio.Event | None = None
        self.connect_failures = 0
        self.closed = False

    # -- local OVSDB ---------------------------------------------------------------------
    async def connect(self) -> None:
        self.journal.append("ovs connect")
        if self.connect_failures:
            self.connect_failures -= 1
            raise OvsError("local OVSDB: cannot connect (is ovsdb-server running?)")

    async def close(self) -> None:
        self.journal.append("ovs close")
        self.closed = True

    async def identity(self) -> Identity | None:
        return self.ident

    async def bridge_exists(self, bridge: str) -> bool:
        return bridge in self.bridges

    # -- host state ----------------------------------------------------------------------
    async def networks_on_host(self) -> frozenset[NetworkId]:
        self.journal.append("list namespaces")
        return frozenset(
            n for ns in self.namespaces if (n := names.network_of_namespace(ns)) is not None
        )

    def read_ahead(self, namespaces: list[str]) -> None:
        self.journal.append(f"read ahead {len(namespaces)}")

    async def observe(self, namespace: str, expected_outer: tuple[str, ...]) -> ObservedNetwork:
        self.journal.append(f"observe {namespace}")
        links = self.namespaces.get(namespace)
        if links is None:
            state, inner = NamespaceState.ABSENT, ()
        else:
            state = NamespaceState.PRESENT
            inner = tuple(sorted((v for v in links.values()), key=lambda link: link.name))
        outer_names = {names.outer_of_inner(link.name) for link in inner} | set(expected_outer)
        return ObservedNetwork(
            namespace=namespace,
            state=state,
            inner_links=inner,
            outer_links=tuple(self.root[n] for n in sorted(outer_names) if n in self.root),
            tx_checksum_off=frozenset(n for ns, n in self.tx_off if ns == namespace),
            ports=tuple(sorted((b, p, i) for p, (b, i) in self.ports.items() if p in outer_names)),
            hop_limit_v4=self.hop_limits.get((namespace, 4)),
            hop_limit_v6=self.hop_limits.get((namespace, 6)),
        )

    async def apply(self, actions: tuple[a.Action, ...]) -> None:
        if self.apply_gate is not None:
            await self.apply_gate.wait()
        for action in actions:
            self._apply(action)
            self.applied.append(action)

    def _apply(self, action: a.Action) -> None:
        match action:
            case a.CreateNamespace(namespace=ns):
                self.namespaces[ns] = {}
                self.journal.append(f"create {ns}")
            case a.DeleteNamespace(namespace=ns):
                self.namespaces.pop(ns, None)
                self.tx_off = {(n, link) for n, link in self.tx_off if n != ns}
                self.hop_limits = {k: v for k, v in self.hop_limits.items() if k[0] != ns}
                for outer, (peer_ns, _) in list(self.peers.items()):
                    if peer_ns == ns:  # the inner end goes with the namespace, and its peer
                        self.root.pop(outer, None)
                        del self.peers[outer]
                self.journal.append(f"delete {ns}")
            case a.CreateVeth(outer=outer, inner=inner, namespace=ns):
                self.root[outer] = Link(outer, "", 1500, False)
                self.namespaces[ns][inner] = Link(inner, "", 1500, False)
                self.peers[outer] = (ns, inner)
            case a.DeleteLink(name=name, namespace=None):
                self.root.pop(name, None)
                if (peer := self.peers.pop(name, None)) is not None:
                    self.namespaces.get(peer[0], {}).pop(peer[1], None)
            case a.DeleteLink(name=name, namespace=ns):
                self.namespaces.get(ns, {}).pop(name, None)
                for outer, peer in list(self.peers.items()):
                    if peer == (ns, name):
                        self.root.pop(outer, None)
                        del self.peers[outer]
            case a.SetLink(name="lo"):
                pass
            case a.SetLink(name=name, namespace=ns, mac=mac, mtu=mtu, up=up):
                table = self.root if ns is None else self.namespaces[ns]
                link = table[name]
                table[name] = dataclasses.replace(
                    link, mac=mac or link.mac, mtu=mtu or link.mtu, up=up
                )
            case a.DisableTxChecksum(name=name, namespace=ns):
                self.tx_off.add((ns, name))
            case a.SetHopLimit(namespace=ns, hop_limit=hop_limit, ipv6=ipv6):
                for family in (4, 6) if ipv6 else (4,):
                    self.hop_limits[(ns, family)] = hop_limit
            case a.SetAddresses(name=name, namespace=ns, add=add, remove=remove):
                link = self.namespaces[ns][name]
                have = (link.addresses - set(remove)) | set(add)
                self.namespaces[ns][name] = dataclasses.replace(link, addresses=have)
            case a.PlugPort(bridge=bridge, port=port, iface_id=iface_id):
                if bridge not in self.bridges:
                    raise OvsError(f"{bridge}: cannot plug {port}: bridge not found")
                self.ports[port] = (bridge, iface_id)
                self.journal.append(f"plug {port}")
            case a.UnplugPort(port=port):
                self.ports.pop(port, None)
                self.journal.append(f"unplug {port}")
            case _:
                raise AssertionError(f"unexpected action {action!r}")

    def namespace_names(self) -> set[str]:
        return set(self.namespaces)

    # -- the edge ------------------------------------------------------------------------
    async def adopt_edge(self) -> dict[NetworkId, Frontend]:
        self.journal.append("edge adopt")
        if self.adoptable:
            self.edge_pid = 4242
            self.served = tuple(sorted(self.adoptable.values()))
        return dict(self.adoptable)

    async def render_edge(self, frontends: list[Frontend]) -> None:
        self.journal.append(f"edge render {len(frontends)}")
        if self.render_gate is not None:
            await self.render_gate.wait()
        if self.render_error is not None:
            raise self.render_error
        self.renders.append(tuple(sorted(frontends)))
        self.served = tuple(sorted(frontends))
        self.edge_pid = 4242

    async def maintain_edge(self) -> None:
        self.maintained += 1

    async def release_edge(self) -> None:
        self.journal.append("edge release")
        self.edge_pid = None

    def serves(self, net: NetworkId) -> bool:
        return any(fe.network == net for fe in self.served)


class FakeSb:
    """`seams.SbLink`: the agent gets exactly the changes the test `send`s."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.sink: Sink | None = None
        self.own: str | None = None
        self.on_connect: list[changes.Change] = []  # delivered as soon as connected
        self.registrations: list[tuple[str, str, int]] = []
        self.sb_cfg_writes: list[int] = []
        self.register_error: Exception | None = None
        self.closed = False

    async def connect(self, own: str, sink: Sink) -> None:
        self.journal.append("sb connect")
        self.own, self.sink = own, sink
        for change in self.on_connect:
            sink(change)

    def send(self, change: changes.Change) -> None:
        assert self.sink is not None, "not connected"
        self.sink(change)

    async def register(self, agent_id: str, bridge: str, nb_cfg: int) -> None:
        self.journal.append("register")
        if self.register_error is not None:
            raise self.register_error
        self.registrations.append((agent_id, bridge, nb_cfg))

    async def write_sb_cfg(self, nb_cfg: int) -> None:
        self.sb_cfg_writes.append(nb_cfg)

    async def close(self) -> None:
        self.journal.append("sb close")
        self.closed = True


class FakeProxy:
    def __init__(self, journal: list[str], index: Index) -> None:
        self.journal = journal
        self._index = index
        self.prepared = False

    def prepare(self) -> None:
        self.prepared = True

    async def start(self) -> None:
        self.journal.append(f"proxy up ({len(self._index.networks())} networks indexed)")

    async def stop(self) -> None:
        self.journal.append("proxy down")


# -- SB content --------------------------------------------------------------------------


def network(net: str, dp: str, vifs: tuple[str, ...] = ("vm1",), meta_uuid: str | None = None):
    """(datapath, ports) of one network with a metadata port and local VIFs."""
    ports = [meta(meta_uuid or f"mp-{dp}", dp, net)] + [vif(v, dp) for v in vifs]
    return datapath(dp, net).datapath, tuple((p.uuid, p.port) for p in ports)


def snapshot(*networks, reconnect: bool = False, chassis_private_nb_cfg: int | None = 5):
    return changes.Snapshot(
        chassis=OWN,
        ports=tuple(p for _, ports in networks for p in ports),
        datapaths=tuple(dp for dp, _ in networks),
        nb_cfg=5,
        chassis_private_nb_cfg=chassis_private_nb_cfg,
        reconnect=reconnect,
    )


# -- a whole agent on fakes ----------------------------------------------------------------


def settings(tmp_path, extra: str = ""):
    ini = tmp_path / "agent.ini"
    ini.write_text(
        textwrap.dedent(
            f"""\
            [DEFAULT]
            state_path = {tmp_path}
            [ovnmeta]
            provision_concurrency = 4
            """
        )
        + extra
    )
    return config.load(["--config-file", str(ini)], default_config_dirs=())


class Rig:
    """An Agent wired to fakes and a fake clock, run as a task of the test's loop."""

    def __init__(self, tmp_path, host: FakeHost | None = None, extra_ini: str = "") -> None:
        """`host`: the data plane a previous agent left behind (a restart)."""
        self.journal: list[str] = []
        self.time = FakeClock()
        self.host = host or FakeHost(self.journal)
        self.host.journal = self.journal
        self.sb = FakeSb(self.journal)
        self.index = Index()
        self.proxy = FakeProxy(self.journal, self.index)
        self.exits: list[int] = []
        self.full_syncs_done: list[int] = []  # the journal's length at each
        self.changes_done: list[float] = []  # virtual time of each after_changes call
        self.agent = Agent(
            settings(tmp_path, extra_ini),
            dataplane=self.host,
            sb=self.sb,
            proxy=self.proxy,
            index=self.index,
            metrics=Metrics(),
            jitter=lambda limit: min(2.0, limit),
            force_exit=self.exits.append,
            clock=self.time.clock(),
            after_full_sync=self._full_sync_done,
            after_changes=lambda: self.changes_done.append(self.time.now),
        )
        self.task: asyncio.Task[int] | None = None

    def _full_sync_done(self) -> None:
        self.full_syncs_done.append(len(self.journal))

    async def start(self, *initial: changes.Change) -> None:
        """Run the agent; `initial` is what the SB delivers on connect (usually a Snapshot)."""
        self.sb.on_connect = list(initial)
        self.task = asyncio.create_task(self.agent.run())
        await settle()

    async def ready(self) -> None:
        await self.time.until(lambda: "register" in self.journal, "registered")
        await self.idle()

    async def idle(self) -> None:
        """Every requested reconcile done and every edge commit out (virtual time)."""
        sched = self.agent.reconciler.scheduler
        await self.time.until(lambda: sched.busy == 0, "scheduler idle")
        await self.time.advance(1.0)  # batched edge commits, _served tasks

    async def stop(self) -> int:
        import signal

        self.agent.handle_signal(signal.SIGTERM)
        assert self.task is not None
        return await asyncio.wait_for(self.task, 5)
