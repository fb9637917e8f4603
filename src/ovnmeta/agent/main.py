"""The metadata agent: composition root and control loop (imperative shell).

Start-up order (agent-contract.md section 7, adapted so restarts refuse nothing):
local OVSDB (chassis name, bridge) -> adopt the running edge haproxy -> SB connection ->
first snapshot loaded into the index -> proxy socket up -> full sync (stale namespaces torn
down, every local network reconciled, in parallel) -> Chassis_Private registration.
Until the socket is up, the edge retries its connections, so guests wait instead of failing.

Shutdown: the first SIGTERM/SIGINT drains the workers and leaves namespaces, ports and the edge
running; a second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import time

from ovnmeta.agent.dataplane import apply, haproxy, netns, observe, ovs
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.metrics import Metrics
from ovnmeta.agent.proxy import holder
from ovnmeta.agent.proxy.server import ProxyServer
from ovnmeta.agent.reconcile import plan, retry
from ovnmeta.agent.sb import changes, client, desired, registration
from ovnmeta.agent.sb.index import Index
from ovnmeta.agent.scheduler import Scheduler
from ovnmeta.agent.settings import Settings, boot_warnings
from ovnmeta.core import names
from ovnmeta.core.errors import EdgeError, OvnmetaError, OvsError
from ovnmeta.core.model import NetworkId, NetworkSpec

logger = logging.getLogger(__name__)

EDGE_CHECK_INTERVAL_S = 5.0
EDGE_BATCH_S = 0.01
EDGE_BATCH_MAX_S = 0.5
DRAIN_TIMEOUT_S = 10.0
STATUS_HEARTBEAT_S = 5.0  # the status file is rewritten at least this often (`healthcheck`)


class Agent:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index = Index()
        self.namer = names.VethNamer()
        self.metrics = Metrics()
        self.ovs = ovs.Ovs(settings.ovs)
        self.edge = haproxy.Edge(settings.edge)
        self.sb: client.SbClient | None = None
        self.identity: ovs.Identity | None = None
        self.host_ipv6 = netns.host_ipv6_enabled()
        self.frontends: dict[NetworkId, Frontend] = {}
        self.applied: dict[NetworkId, NetworkSpec] = {}
        self.sb_state = "connecting"
        self.sb_since = time.time()  # when sb_state last changed
        self.registered = False
        jitter_max = registration.max_jitter_s(settings.agent.agent_down_time)
        self.heartbeat = registration.Heartbeat(jitter=lambda: random.randint(0, jitter_max))
        self._force: set[NetworkId] = set()
        self._requested_at: dict[NetworkId, float] = {}
        self._changes: asyncio.Queue[changes.Change] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._loaded = asyncio.Event()
        self._edge_kick = asyncio.Event()
        self._edge_generation = 0
        self._edge_blocking = 0  # reconciles holding a scheduler slot while awaiting the edge
        self._edge_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._status_dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._signals = 0
        self.scheduler = Scheduler(self._reconcile, settings.agent.provision_concurrency)
        self.proxy: ProxyServer | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        started = time.monotonic()
        os.makedirs(self.settings.agent.state_path, exist_ok=True)
        self._spawn(self._write_status(), name="status")  # fresh while we wait for OVS/SB
        try:
            await self._startup(loop)
            logger.info("agent ready in %.3fs", time.monotonic() - started)
            await self._stop.wait()
        finally:
            await self._shutdown()
        return 0

    async def _startup(self, loop: asyncio.AbstractEventLoop) -> None:
        for warning in boot_warnings(self.settings.edge):
            logger.warning("%s", warning)
        await self._until_ok("local OVSDB", lambda: asyncio.to_thread(self.ovs.connect))
        self.identity = await self._wait_identity()
        logger.info(
            "chassis %s, integration bridge %s, agent id %s",
            self.identity.system_id,
            self.identity.bridge,
            registration.agent_id(self.identity.system_id),
        )
        self.frontends = await asyncio.to_thread(self.edge.adopt)
        self._spawn(self._edge_committer(), name="edge")
        for net, fe in self.frontends.items():
            self.namer.adopt(net, fe.interface)
        self.metrics.serve(self.settings.agent.metrics_host, self.settings.agent.metrics_port)

        def sink(change: changes.Change) -> None:  # called from the IDL thread
            loop.call_soon_threadsafe(self._changes.put_nowait, change)

        self.sb = client.SbClient(self.settings.sb, self.identity.system_id, sink)
        await self._until_ok("southbound", lambda: asyncio.to_thread(self.sb.connect))
        self._spawn(self._consume(), name="sb-changes")
        await self._wait_or_stop(self._loaded)
        if self._stop.is_set():
            return
        listener = await asyncio.to_thread(self._listener)
        self.proxy = ProxyServer(
            self.settings.proxy, self.index, self.metrics.observe_request, listener
        )
        await self.proxy.start()
        self._spawn(self._supervise(), name="supervise")

    def _listener(self) -> socket.socket:
        """The listening socket, kept open across agent restarts by proxy.holder."""
        base = os.path.join(self.settings.agent.state_path, "ovnmeta")
        p = self.settings.proxy
        try:
            return holder.ensure(
                p.metadata_proxy_socket,
                os.path.join(base, "listener.ctl"),
                p.metadata_backlog,
                p.metadata_proxy_socket_mode,
                os.path.join(base, "listener.pid"),
            )
        except OSError as exc:
            raise EdgeError(f"{p.metadata_proxy_socket}: cannot get a listener: {exc}") from exc

    async def _shutdown(self) -> None:
        logger.info("stopping: draining workers; namespaces and the edge stay up")
        if self.proxy is not None:
            await self.proxy.stop()
        await self.scheduler.stop(DRAIN_TIMEOUT_S)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.sb is not None:
            await asyncio.to_thread(self.sb.close)
        await asyncio.to_thread(self.ovs.close)
        self._dump_status()

    def _spawn(self, coro, name: str | None = None) -> None:
        """Start a background task we cancel at shutdown; finished ones are dropped."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(coro, name=name))

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            logger.warning("second %s: exiting now", sig.name)
            os._exit(128 + sig)
        logger.info("%s received", sig.name)
        self._stop.set()

    async def _wait_or_stop(self, event: asyncio.Event) -> None:
        stop = asyncio.create_task(self._stop.wait())
        wait = asyncio.create_task(event.wait())
        await asyncio.wait({stop, wait}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        wait.cancel()

    async def _until_ok(self, what: str, attempt) -> None:
        """Retry a connection forever with backoff: never crash-loop on a missing service."""
        failures = 0
        while not self._stop.is_set():
            try:
                await attempt()
            except OvnmetaError as exc:
                failures += 1
                if failures == 1:
                    logger.warning("%s (retrying)", exc)
                await self._sleep(retry.next_delay(failures))
            else:
                if failures:
                    logger.info("%s reachable after %d attempts", what, failures + 1)
                return
        raise asyncio.CancelledError

    async def _wait_identity(self) -> ovs.Identity:
        warned = False
        while True:
            identity = await asyncio.to_thread(self.ovs.identity)
            if identity is not None:
                return identity
            if not warned:
                logger.warning(
                    "Open_vSwitch external_ids:system-id is not set yet; waiting "
                    "(is ovn-controller configured?)"
                )
                warned = True
            await self._sleep(1.0)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        if self._stop.is_set():
            raise asyncio.CancelledError

    # -- SB changes ----------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            change = await self._changes.get()
            try:
                await self._handle(change)
            except Exception:
                # A bug in handling one change must not stop the stream; the periodic
                # resync repairs whatever was missed.
                logger.exception("failed to handle %r", change)

    async def _handle(self, change: changes.Change) -> None:
        match change:
            case changes.Snapshot():
                self.index.apply(change)
                self._set_sb_state("connected")
                self.metrics.sb_connected.set(1)
                logger.info(
                    "southbound %s: %d ports, %d networks",
                    "resynced" if change.reconnect else "loaded",
                    len(change.ports),
                    len(change.datapaths),
                )
                self._loaded.set()
                await self.full_sync()
                # At start the sb-cfg is Chassis_Private.nb_cfg, so a new agent shows up
                # alive at once; SB_Global.nb_cfg is written on its next update.
                if change.chassis_private_nb_cfg is not None:
                    await self._register(change.chassis_private_nb_cfg)
            case changes.Disconnected():
                self._set_sb_state("disconnected")
                self.metrics.sb_connected.set(0)
                logger.warning("southbound connection lost; reconnecting")
            case changes.ChassisPrivateCreated(nb_cfg=nb_cfg):
                logger.info(
                    "Chassis_Private %s was (re)created: registering and resyncing", self._own
                )
                self.registered = False
                await self._register(nb_cfg)
                await self.full_sync()
            case changes.NbCfgChanged(nb_cfg=nb_cfg):
                if self.registered:
                    self._heartbeat(nb_cfg)
            case _:
                for net in self.index.apply(change):
                    self._request(net)
        self._status_dirty.set()

    def _set_sb_state(self, state: str) -> None:
        if state != self.sb_state:
            self.sb_state, self.sb_since = state, time.time()

    @property
    def _own(self) -> str:
        return self.identity.system_id if self.identity else "?"

    async def _register(self, nb_cfg: int) -> None:
        assert self.sb is not None and self.identity is not None
        try:
            await asyncio.to_thread(
                self.sb.register,
                registration.agent_id(self.identity.system_id),
                self.identity.bridge,
                nb_cfg,
            )
        except OvnmetaError as exc:
            logger.warning("%s (retrying on the next Chassis_Private event or resync)", exc)
            return
        self.registered = True
        self.heartbeat.done(nb_cfg)
        logger.info("registered in Chassis_Private %s (sb-cfg %d)", self._own, nb_cfg)

    def _heartbeat(self, nb_cfg: int) -> None:
        delay = self.heartbeat.observe(nb_cfg)
        if delay is not None:
            self._spawn(self._write_heartbeat(delay))

    async def _write_heartbeat(self, delay: float) -> None:
        await asyncio.sleep(delay)
        value = self.heartbeat.due()
        if value is None or self.sb is None:
            return
        try:
            await asyncio.to_thread(self.sb.write_sb_cfg, value)
        except OvnmetaError as exc:
            self.heartbeat.target = None  # let the next nb_cfg bump try again
            logger.warning("%s", exc)
            return
        self.heartbeat.done(value)
        logger.debug("heartbeat: sb-cfg %d written", value)

    # -- reconciling ---------------------------------------------------------------------

    async def full_sync(self) -> None:
        """Every network we know of, on the host or in the SB, reconciled from observation."""
        existing = {
            net
            for name in await asyncio.to_thread(netns.list_names, names.NAMESPACE_PREFIX)
            if (net := names.network_of_namespace(name)) is not None
        }
        wanted = self.index.local_networks()
        stale = existing - wanted
        if stale:
            logger.info("full sync: %d stale namespaces to remove", len(stale))
        nets = existing | wanted | set(self.frontends) | set(self.applied)
        self._force |= nets
        for net in sorted(stale) + sorted(nets - stale):  # teardown first
            self._request(net)
        self._spawn(self._log_sync(len(nets), time.monotonic()))

    async def _log_sync(self, count: int, started: float) -> None:
        await self.scheduler.wait_idle()
        logger.info(
            "full sync of %d networks done in %.0f ms (%d failing)",
            count,
            (time.monotonic() - started) * 1000,
            len(self.scheduler.failing),
        )

    def _request(self, net: NetworkId) -> None:
        self._requested_at.setdefault(net, time.monotonic())
        self.scheduler.request(net)

    async def _reconcile(self, net: NetworkId) -> None:
        assert self.identity is not None
        forced = net in self._force
        self._force.discard(net)
        requested = self._requested_at.pop(net, time.monotonic())
        spec = desired.spec_for(self.index, net, self.namer, self.host_ipv6)
        log = logging.LoggerAdapter(logger, {"network": net})
        try:
            if spec is None:
                await self._teardown(net, log)
            else:
                await self._provision(net, spec, forced, log, requested)
        except BaseException:
            self._force.add(net)  # the retry must look at the host again
            raise
        finally:
            self.metrics.networks.set(len(self.frontends))
            self.metrics.failing.set(len(self.scheduler.failing))
            self._status_dirty.set()

    async def _teardown(self, net: NetworkId, log: logging.LoggerAdapter) -> None:
        if self.frontends.pop(net, None) is not None:
            await self._commit_edge()  # stop listening before the namespace goes
        self.applied.pop(net, None)
        seen = await asyncio.to_thread(observe.observe, names.namespace(net), (), self.ovs.ports_of)
        actions = plan.plan(None, seen, self.identity.bridge)  # type: ignore[union-attr]
        if actions:
            await asyncio.to_thread(apply.apply, actions, self.ovs)
            log.info("[net %s] torn down (%d actions)", net[:8], len(actions))

    async def _provision(
        self,
        net: NetworkId,
        spec: NetworkSpec,
        forced: bool,
        log: logging.LoggerAdapter,
        requested: float,
    ) -> None:
        if not forced and self.applied.get(net) == spec and net in self.frontends:
            return
        t0 = time.monotonic()
        bridge = await self._bridge()
        seen = await asyncio.to_thread(
            observe.observe, spec.namespace, (spec.veth_outer,), self.ovs.ports_of
        )
        actions = plan.plan(spec, seen, bridge)
        t1 = time.monotonic()
        if actions:
            await asyncio.to_thread(apply.apply, actions, self.ovs)
        t2 = time.monotonic()
        frontend = Frontend(net, spec.namespace, spec.veth_inner, spec.ipv6)
        self.frontends[net] = frontend
        # Wait for the edge outside the scheduler slot: the next networks' netlink work goes
        # on while the batched reload happens.
        self._spawn(
            self._served(
                net, spec, frontend, self._edge_request(), actions, requested, (t0, t1, t2), log
            )
        )

    async def _served(
        self,
        net: NetworkId,
        spec: NetworkSpec,
        frontend: Frontend,
        edge: asyncio.Future[None],
        actions: tuple,
        requested: float,
        marks: tuple[float, float, float],
        log: logging.LoggerAdapter,
    ) -> None:
        try:
            await edge
        except (OvnmetaError, OSError) as exc:
            log.warning("[net %s] edge not updated: %s (retrying)", net[:8], exc)
            self._force.add(net)
            await asyncio.sleep(retry.next_delay(1))
            self._request(net)
            return
        if self.frontends.get(net) is not frontend:
            return  # torn down or changed meanwhile: that reconcile owns the state now
        self.applied[net] = spec
        self.metrics.networks.set(len(self.frontends))
        self._status_dirty.set()
        if actions:
            t0, t1, t2 = marks
            elapsed = time.monotonic() - requested
            self.metrics.provision.observe(elapsed)
            log.info(
                "[net %s] provisioned in %.0f ms (%d actions; queued %.0f, observe %.0f, "
                "apply %.0f, edge %.0f)",
                net[:8],
                elapsed * 1000,
                len(actions),
                (t0 - requested) * 1000,
                (t1 - t0) * 1000,
                (t2 - t1) * 1000,
                (time.monotonic() - t2) * 1000,
            )

    async def _bridge(self) -> str:
        """The integration bridge; if it vanished, reload the identity (contract section 6)."""
        assert self.identity is not None
        if await asyncio.to_thread(self.ovs.bridge_exists, self.identity.bridge):
            return self.identity.bridge
        identity = await asyncio.to_thread(self.ovs.identity)
        if identity is not None and identity != self.identity:
            logger.info("identity changed: %s -> %s; resyncing", self.identity, identity)
            self.identity = identity
            self.registered = False
            self._changes.put_nowait(changes.ChassisPrivateCreated(self.heartbeat.written or 0))
        raise OvsError(
            f"{self.identity.bridge}: integration bridge not found (is ovn-controller running?)"
        )

    async def _commit_edge(self) -> None:
        """Return once the edge serves at least the current `self.frontends`."""
        self._edge_blocking += 1
        try:
            await self._edge_request()
        finally:
            self._edge_blocking -= 1

    def _edge_request(self) -> asyncio.Future[None]:
        """A future resolved once the edge serves at least the current `self.frontends`.

        Commits are batched: every reconcile that finishes within EDGE_BATCH_S of another
        shares one config check and one reload, so 200 networks appearing at once cost a few
        reloads, not 200."""
        self._edge_generation += 1
        done = asyncio.get_running_loop().create_future()
        self._edge_waiters.append((self._edge_generation, done))
        self._edge_kick.set()
        return done

    async def _edge_committer(self) -> None:
        while True:
            await self._edge_kick.wait()
            first = time.monotonic()
            await asyncio.sleep(EDGE_BATCH_S)
            # While other networks are still being plumbed, wait for them (bounded): a reload
            # of a big config costs CPU that the plumbing needs, so fewer, larger batches.
            while (
                self.scheduler.busy > self._edge_blocking
                and time.monotonic() - first < EDGE_BATCH_MAX_S
            ):
                await asyncio.sleep(EDGE_BATCH_S)
            self._edge_kick.clear()
            generation = self._edge_generation
            error: BaseException | None = None
            try:
                await self._apply_edge()
            except Exception as exc:  # handed to every waiter: their reconcile fails, retries
                error = exc
            still_waiting = []
            for wanted, fut in self._edge_waiters:
                if wanted > generation:
                    still_waiting.append((wanted, fut))
                elif not fut.done():
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error)
            self._edge_waiters = still_waiting

    async def _apply_edge(self) -> None:
        # haproxy refuses a whole config if one namespace is gone (someone deleted it):
        # leave such networks out, so the others keep being served, and rebuild them.
        gone = [net for net, fe in self.frontends.items() if not netns.exists(fe.namespace)]
        for net in gone:
            logger.warning("[net %s] namespace vanished; rebuilding it", net[:8])
            del self.frontends[net]
            self.applied.pop(net, None)
            self._force.add(net)
            self._request(net)
        await asyncio.to_thread(self.edge.apply, list(self.frontends.values()))

    async def _supervise(self) -> None:
        """Restart the edge if it died; periodic light resync repairs drift."""
        interval = self.settings.agent.resync_interval_s
        last_sync = time.monotonic()
        while True:
            await asyncio.sleep(EDGE_CHECK_INTERVAL_S)
            if self.frontends and self.edge.pid is None:
                logger.warning("edge haproxy is not running; restarting it")
                try:
                    await self._commit_edge()
                except OvnmetaError as exc:
                    logger.error("%s", exc)
            if interval and time.monotonic() - last_sync >= interval:
                last_sync = time.monotonic()
                await self.full_sync()

    # -- status --------------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "agent_pid": os.getpid(),
            "updated_at": time.time(),
            "chassis": self._own,
            "bridge": self.identity.bridge if self.identity else None,
            "agent_id": registration.agent_id(self._own) if self.identity else None,
            "sb": self.sb_state,
            "sb_since": self.sb_since,
            "registered": self.registered,
            "sb_cfg": self.heartbeat.written,
            "edge_pid": self.edge.pid,
            "socket": self.settings.proxy.metadata_proxy_socket,
            "networks": [
                {
                    "network": net,
                    "namespace": spec.namespace,
                    "veth": [spec.veth_outer, spec.veth_inner],
                    "iface_id": spec.iface_id,
                    "mac": spec.mac,
                    "addresses": sorted(spec.addresses),
                    "served": net in self.frontends,
                    "failing": self.scheduler.failing.get(net, 0),
                }
                for net, spec in sorted(self.applied.items())
            ],
            "failing": sorted(self.scheduler.failing),
        }

    async def _write_status(self) -> None:
        """On change, at most twice a second; otherwise every STATUS_HEARTBEAT_S, so that
        `updated_at` tells `ovnmeta healthcheck` the agent's loop is alive."""
        failed = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_dirty.wait(), STATUS_HEARTBEAT_S)
            self._status_dirty.clear()
            snapshot = self.status()  # on the loop: the dicts cannot change under it
            try:
                await asyncio.to_thread(self._dump_status, snapshot)
            except OSError as exc:  # a full disk must not end the heartbeat for good
                if not failed:
                    logger.warning("cannot write the status file: %s (retrying)", exc)
                failed = True
            else:
                if failed:
                    logger.info("status file written again")
                failed = False
            await asyncio.sleep(0.5)

    def _dump_status(self, snapshot: dict | None = None) -> None:
        path = self.settings.agent.status_file
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.status() if snapshot is None else snapshot, f, indent=1)
        os.replace(tmp, path)
