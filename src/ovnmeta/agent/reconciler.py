"""One network at a time: observe -> plan -> apply, then the edge; full and periodic resyncs.

`reconcile(net)` runs in the scheduler (serial per network, parallel across networks): the
spec comes from the index (`sb.desired`), the host is observed, `reconcile.plan` decides and
the data plane applies. A network is served once the batched edge commit that includes its
frontend is done; that wait happens outside the scheduler slot, so the next networks' netlink
work goes on while haproxy reloads. A forced reconcile (full sync, retry) always looks at the
host again; an unforced one skips a network whose spec was applied and is served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.edge_batcher import EdgeBatcher
from ovnmeta.agent.metrics import Metrics
from ovnmeta.agent.reconcile import plan, retry
from ovnmeta.agent.reconcile.actions import Action
from ovnmeta.agent.runtime import Clock, Tasks
from ovnmeta.agent.sb import desired
from ovnmeta.agent.sb.index import Index
from ovnmeta.agent.scheduler import Scheduler
from ovnmeta.agent.seams import Dataplane
from ovnmeta.core import logs, names
from ovnmeta.core.errors import OvnmetaError, OvsError
from ovnmeta.core.model import Identity, NetworkId, NetworkSpec

logger = logging.getLogger(__name__)

EDGE_CHECK_INTERVAL_S = 5.0
EDGE_MAINTAIN_INTERVAL_S = 0.25
# A burst of host changes is over once none came for this long (checked every
# EDGE_CHECK_INTERVAL_S): the young shard has been merged by then (about 1 s after its last).
QUIET_AFTER_CHANGES_S = 5.0


@dataclass(frozen=True, slots=True)
class Marks:
    """When a provisioning reconcile was asked for and reached each step (monotonic s)."""

    requested: float
    started: float
    observed: float
    applied: float


class Reconciler:
    def __init__(
        self,
        dataplane: Dataplane,
        index: Index,
        metrics: Metrics,
        tasks: Tasks,
        clock: Clock,
        concurrency: int,
        resync_interval_s: int,
        on_change: Callable[[], None],
        on_identity_changed: Callable[[Identity], None],
        hop_limit: int | None = None,
        after_full_sync: Callable[[], None] = lambda: None,
        after_changes: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_change`: what the status file shows changed. `on_identity_changed`: the local
        OVSDB names another chassis or bridge now (register again, resync). `after_full_sync`:
        called when a full sync is done, `after_changes` once the host has been quiet for
        QUIET_AFTER_CHANGES_S after networks were set up or torn down (the agent gives freed
        memory back then: agent.allocator)."""
        self._dp = dataplane
        self._index = index
        self._metrics = metrics
        self._tasks = tasks
        self._clock = clock
        self._resync_interval_s = resync_interval_s
        self._on_change = on_change
        self._on_identity_changed = on_identity_changed
        self._hop_limit = hop_limit
        self._after_full_sync = after_full_sync
        self._after_changes = after_changes
        self._changed_at: float | None = None  # the last host change not yet followed by it
        self.identity: Identity | None = None
        self.namer = names.VethNamer()
        self.frontends: dict[NetworkId, Frontend] = {}  # what the edge serves (or will)
        self.applied: dict[NetworkId, NetworkSpec] = {}  # specs set up and served
        # What the edge serves for sure: adopted, then the last commit that succeeded.
        self._edge_serves: dict[NetworkId, Frontend] = {}
        self._force: set[NetworkId] = set()
        self._requested_at: dict[NetworkId, float] = {}
        self.scheduler = Scheduler(self.reconcile, concurrency, sleep=clock.sleep)
        self.edge = EdgeBatcher(self._apply_edge, self._plumbing_in_flight, clock)

    def _plumbing_in_flight(self) -> int:
        """The reconciles an edge commit waits for (bounded) to batch them: none while no
        network is served yet, so a cold start's first networks are answered as soon as they
        are plumbed instead of after the whole first wave; the rest follow in batches."""
        return self.scheduler.busy if self.applied else 0

    def adopt(self, frontends: dict[NetworkId, Frontend]) -> None:
        """Start from what a running edge serves: its veth names are kept as they are."""
        self.frontends = dict(frontends)
        self._edge_serves = dict(frontends)
        for net, fe in frontends.items():
            self.namer.adopt(net, fe.interface)

    def request(self, net: NetworkId) -> None:
        self._requested_at.setdefault(net, self._clock.monotonic())
        self.scheduler.request(net)

    async def full_sync(self) -> None:
        """Every network we know of, on the host or in the SB, reconciled from observation."""
        existing = await self._dp.networks_on_host()
        wanted = self._index.local_networks()
        stale = existing - wanted
        if stale:
            logger.info("full sync: %d stale namespaces to remove", len(stale))
        nets = existing | wanted | set(self.frontends) | set(self.applied)
        self._force |= nets
        order = sorted(stale) + sorted(nets - stale)  # teardown first
        self._dp.read_ahead([names.namespace(net) for net in order if net in existing])
        for net in order:
            self.request(net)
        self._tasks.spawn(self._log_sync(len(nets), self._clock.monotonic()))

    async def _log_sync(self, count: int, started: float) -> None:
        await self.scheduler.wait_idle()
        logger.info(
            "full sync of %d networks done in %.0f ms (%d failing)",
            count,
            (self._clock.monotonic() - started) * 1000,
            len(self.scheduler.failing),
        )
        self._after_full_sync()

    async def reconcile(self, net: NetworkId) -> None:
        assert self.identity is not None
        forced = net in self._force
        self._force.discard(net)
        requested = self._requested_at.pop(net, self._clock.monotonic())
        spec = desired.spec_for(self._index, net, self.namer, self._dp.host_ipv6)
        log = logs.for_network(net, logger)
        try:
            if spec is None:
                await self._teardown(net, log)
            else:
                await self._provision(net, spec, forced, log, requested)
        except BaseException:
            self._force.add(net)  # the retry must look at the host again
            raise
        finally:
            self._metrics.networks.set(len(self.frontends))
            self._metrics.failing.set(len(self.scheduler.failing))
            self._on_change()

    async def _teardown(self, net: NetworkId, log: logs.NetworkLogger) -> None:
        if self.frontends.pop(net, None) is not None:
            await self.edge.commit()  # stop listening before the namespace goes
        self.applied.pop(net, None)
        seen = await self._dp.observe(names.namespace(net), ())
        actions = plan.plan(None, seen, self.identity.bridge)  # type: ignore[union-attr]
        if actions:
            await self._dp.apply(actions)
            self._changed_at = self._clock.monotonic()
            log.info("torn down (%d actions)", len(actions))

    async def _provision(
        self,
        net: NetworkId,
        spec: NetworkSpec,
        forced: bool,
        log: logs.NetworkLogger,
        requested: float,
    ) -> None:
        if not forced and self.applied.get(net) == spec and net in self.frontends:
            return
        started = self._clock.monotonic()
        bridge = await self._bridge()
        seen = await self._dp.observe(spec.namespace, (spec.veth_outer,))
        actions = plan.plan(spec, seen, bridge, self._hop_limit)
        observed = self._clock.monotonic()
        if actions:
            await self._dp.apply(actions)
        marks = Marks(requested, started, observed, self._clock.monotonic())
        frontend = Frontend(net, spec.namespace, spec.veth_inner, spec.ipv6)
        self.frontends[net] = frontend
        if not actions and self._edge_serves.get(net) == frontend:
            # Found in place on the host and served by the edge as it is (a restart): served
            # now, not after the next batched commit (which still runs: it applies settings
            # that changed across the restart, and a failure is retried as below).
            self._mark_served(spec)
        # Wait for the edge outside the scheduler slot: the next networks' netlink work goes
        # on while the batched reload happens.
        self._tasks.spawn(self._served(spec, frontend, self.edge.request(), actions, marks, log))

    async def _served(
        self,
        spec: NetworkSpec,
        frontend: Frontend,
        edge: asyncio.Future[None],
        actions: tuple[Action, ...],
        marks: Marks,
        log: logs.NetworkLogger,
    ) -> None:
        net = spec.network
        try:
            await edge
        except (OvnmetaError, OSError) as exc:
            log.warning("edge not updated: %s (retrying)", exc)
            self._force.add(net)
            await self._clock.sleep(retry.next_delay(1))
            self.request(net)
            return
        if self.frontends.get(net) is not frontend:
            return  # torn down or changed meanwhile: that reconcile owns the state now
        self._mark_served(spec)
        if actions:
            now = self._changed_at = self._clock.monotonic()
            elapsed = now - marks.requested
            self._metrics.provision.observe(elapsed)
            log.info(
                "provisioned in %.0f ms (%d actions; queued %.0f, observe %.0f, "
                "apply %.0f, edge %.0f)",
                elapsed * 1000,
                len(actions),
                (marks.started - marks.requested) * 1000,
                (marks.observed - marks.started) * 1000,
                (marks.applied - marks.observed) * 1000,
                (now - marks.applied) * 1000,
            )

    def _mark_served(self, spec: NetworkSpec) -> None:
        self.applied[spec.network] = spec
        self._metrics.networks.set(len(self.frontends))
        self._on_change()

    async def _bridge(self) -> str:
        """The integration bridge; if it vanished, reload the identity (contract section 6)."""
        assert self.identity is not None
        if await self._dp.bridge_exists(self.identity.bridge):
            return self.identity.bridge
        identity = await self._dp.identity()
        if identity is not None and identity != self.identity:
            logger.info("identity changed: %s -> %s; resyncing", self.identity, identity)
            self.identity = identity
            self._on_identity_changed(identity)
        raise OvsError(
            f"{self.identity.bridge}: integration bridge not found (is ovn-controller running?)"
        )

    async def _apply_edge(self) -> None:
        # haproxy refuses a whole config if one namespace is gone (someone deleted it):
        # leave such networks out, so the others keep being served, and rebuild them.
        present = self._dp.namespace_names()
        gone = [n for n, fe in self.frontends.items() if fe.namespace not in present]
        for net in gone:
            logs.for_network(net, logger).warning("namespace vanished; rebuilding it")
            del self.frontends[net]
            self.applied.pop(net, None)
            self._force.add(net)
            self.request(net)
        rendered = dict(self.frontends)
        # While the commit runs, and if it fails, only what it does not change is sure.
        self._edge_serves = {n: fe for n, fe in self._edge_serves.items() if rendered.get(n) == fe}
        await self._dp.render_edge(list(rendered.values()))
        self._edge_serves = rendered

    async def maintain_edge(self) -> None:
        """Edge upkeep off the request path: merge the young shard into the main one once it
        is quiet (dataplane/edge_placement.py), checked often so a burst of new networks
        rarely finds it large."""
        while True:
            await self._clock.sleep(EDGE_MAINTAIN_INTERVAL_S)
            try:
                await self._dp.maintain_edge()
            except (OvnmetaError, OSError) as exc:  # the next tick tries again
                logger.warning("edge: merge into the main haproxy failed: %s", exc)
                await self._clock.sleep(retry.next_delay(1))

    async def supervise(self) -> None:
        """Restart the edge if it died; periodic light resync repairs drift."""
        interval = self._resync_interval_s
        last_sync = self._clock.monotonic()
        while True:
            await self._clock.sleep(EDGE_CHECK_INTERVAL_S)
            if self.frontends and self._dp.edge_pid is None:
                logger.warning("edge haproxy is not running; restarting it")
                try:
                    await self.edge.commit()
                except OvnmetaError as exc:
                    logger.error("%s", exc)
            if interval and self._clock.monotonic() - last_sync >= interval:
                last_sync = self._clock.monotonic()
                await self.full_sync()
            self._after_quiet()

    def _after_quiet(self) -> None:
        """Once per burst of host changes, when it is over. Provisioning 300 networks left the
        agent 2.5 MB above a restarted one in freed malloc pages (not objects: a census of
        both was the same), given back by a trim (docs/agent.md, "Memory at 1,000
        networks")."""
        changed = self._changed_at
        if changed is None or self.scheduler.busy:
            return
        if self._clock.monotonic() - changed >= QUIET_AFTER_CHANGES_S:
            self._changed_at = None
            self._after_changes()
