"""The metadata agent: composition root and life cycle (imperative shell).

`build(settings)` wires the real seams (`agent.adapters`) into an `Agent`; `Agent.run()` is
uvicorn's shape: signals captured, `startup()`, the main loop (wait for a stop), `shutdown()`.

Start-up order (agent-contract.md section 7, adapted so restarts refuse nothing):
local OVSDB (chassis name, bridge) -> adopt the running edge haproxy -> SB connection ->
first snapshot loaded into the index -> proxy socket up -> full sync (stale namespaces torn
down, every local network reconciled, in parallel) -> Chassis_Private registration.
Until the socket is up, the edge retries its connections, so guests wait instead of failing.

Shutdown: the first SIGTERM/SIGINT drains the workers and leaves namespaces, ports and the edge
running; a second signal exits at once. SIGUSR1 (sent by `ovnmeta agent --release`, the way back
to upstream's agent) is a release: the workers drain, the edge is soft-stopped while the proxy
still answers what it holds (dataplane/handback.py), then the agent stops as on SIGTERM, with
exit status EXIT_RELEASED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable, Iterator

from ovnmeta.agent import status
from ovnmeta.agent.metrics import Metrics
from ovnmeta.agent.reconcile import retry
from ovnmeta.agent.reconciler import Reconciler
from ovnmeta.agent.runtime import Clock, Tasks
from ovnmeta.agent.sb import registration
from ovnmeta.agent.sb.index import Index
from ovnmeta.agent.sb_dispatch import SbDispatch
from ovnmeta.agent.seams import Dataplane, Proxy, SbLink
from ovnmeta.agent.settings import Settings, boot_warnings
from ovnmeta.core.errors import OvnmetaError
from ovnmeta.core.model import Identity

logger = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 10.0
# The exit status after a release: the unit's RestartPreventExitStatus= and SuccessExitStatus=
# (deploy/systemd/ovnmeta-agent.service) keep systemd from starting the agent again.
EXIT_RELEASED = 3
REAL_TIME = Clock()


def build(settings: Settings) -> Agent:
    """The agent on the real host, SB and socket."""
    from ovnmeta.agent import adapters, allocator  # netlink, ovsdbapp, aiohttp: when running

    index = Index()
    metrics = Metrics()
    return Agent(
        settings,
        dataplane=adapters.HostDataplane(settings.ovs, settings.edge, metrics.edge_restarts.inc),
        sb=adapters.SbConnection(
            settings.sb,
            registration.role_for(settings.agent.role),
            settings.agent.sb_hint_file,
        ),
        proxy=adapters.HeldProxy(
            settings.proxy, settings.agent.state_path, index, metrics.observe_request
        ),
        index=index,
        metrics=metrics,
        jitter=lambda limit: random.uniform(0, limit),
        force_exit=os._exit,
        after_full_sync=allocator.trim,
        after_changes=allocator.trim,
    )


class Agent:
    def __init__(
        self,
        settings: Settings,
        *,
        dataplane: Dataplane,
        sb: SbLink,
        proxy: Proxy,
        index: Index,
        metrics: Metrics,
        jitter: Callable[[float], float],
        force_exit: Callable[[int], object],
        clock: Clock = REAL_TIME,
        after_full_sync: Callable[[], None] = lambda: None,
        after_changes: Callable[[], None] = lambda: None,
    ) -> None:
        """`index` is the one the proxy looks instances up in; `jitter(limit)` spreads
        heartbeats (a delay in [0, limit]);
        `force_exit(code)` ends the process on a second signal (os._exit);
        `after_full_sync()` runs when each full sync is done, `after_changes()` once a burst
        of host changes is over (both agent.allocator.trim)."""
        self.settings = settings
        self.role = registration.role_for(settings.agent.role)
        self._dp = dataplane
        self._proxy = proxy
        self._metrics = metrics
        self._force_exit = force_exit
        self._clock = clock
        self._stop = asyncio.Event()
        self._signals = 0
        self._release = False
        self._proxy_started = False
        self.tasks = Tasks()
        self.status_file = status.Keeper(settings.agent.status_file, self.status, clock.sleep)
        self.reconciler = Reconciler(
            dataplane,
            index,
            metrics,
            self.tasks,
            clock,
            settings.agent.provision_concurrency,
            settings.agent.resync_interval_s,
            on_change=self.status_file.touch,
            on_identity_changed=self._identity_changed,
            hop_limit=settings.edge.imds_hop_limit,
            after_full_sync=lambda: self._full_sync_done(after_full_sync),
            after_changes=after_changes,
        )
        self.sb = SbDispatch(
            sb,
            index,
            self.reconciler,
            metrics,
            self.tasks,
            clock,
            registration.Heartbeat(
                jitter=jitter,
                max_jitter=registration.max_jitter_s(settings.agent.agent_down_time),
            ),
            on_change=self.status_file.touch,
            role=self.role,
        )

    # -- life cycle ----------------------------------------------------------------------

    async def run(self) -> int:
        with _captured_signals(self.handle_signal):
            started = self._clock.monotonic()
            os.makedirs(self.settings.agent.state_path, exist_ok=True)
            self.tasks.spawn(self.status_file.run(), name="status")  # fresh while we wait
            try:
                await self.startup()
                logger.info("agent ready in %.3fs", self._clock.monotonic() - started)
                await self._stop.wait()
            finally:
                await self.shutdown()
        return EXIT_RELEASED if self._release else 0

    def handle_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            logger.warning("second %s: exiting now", sig.name)
            self._force_exit(128 + sig)
            return
        self._release = sig == signal.SIGUSR1
        if self._release:
            logger.info("%s received: releasing the chassis (edge first, then the proxy)", sig.name)
        else:
            logger.info("%s received", sig.name)
        self._stop.set()

    async def startup(self) -> None:
        for warning in boot_warnings(self.settings.edge):
            logger.warning("%s", warning)
        await self._until_ok("local OVSDB", self._dp.connect)
        identity = await self._wait_identity()
        self.reconciler.identity = identity
        logger.info(
            "chassis %s, integration bridge %s, %s (%s) id %s",
            identity.system_id,
            identity.bridge,
            self.role.binary,
            self.role.agent_type,
            self.role.agent_id(identity.system_id),
        )
        self.reconciler.adopt(await self._dp.adopt_edge())
        self.tasks.spawn(self.reconciler.edge.run(), name="edge")
        a = self.settings.agent
        self._metrics.serve(a.metrics_host, a.metrics_port)
        self._proxy.prepare()  # while the SB answers
        await self._until_ok("southbound", lambda: self.sb.connect(identity.system_id))
        self.tasks.spawn(self.sb.consume(), name="sb-changes")
        await self._wait_or_stop(self.sb.loaded.wait())
        if self._stop.is_set():
            return
        await self._proxy.start()
        self._proxy_started = True
        self.sb.serving.set()  # the first full sync and the registration follow
        self.tasks.spawn(self.reconciler.supervise(), name="supervise")
        self.tasks.spawn(self.reconciler.maintain_edge(), name="edge-upkeep")

    async def shutdown(self) -> None:
        """On a release the proxy stops last, after the edge (dataplane/handback.py): every
        request the edge accepted is answered, what is queued on its listeners moves to
        upstream's haproxies. Before the edge stops nothing may touch it any more: reconciles
        drained, supervision and SB changes stopped (no restart, no reload)."""
        if self._release:
            logger.info("releasing: draining workers, then the edge soft-stops; namespaces stay")
        else:
            logger.info("stopping: draining workers; namespaces and the edge stay up")
        if self._proxy_started and not self._release:
            await self._proxy.stop()
        await self.reconciler.scheduler.stop(DRAIN_TIMEOUT_S)
        await self.tasks.cancel()
        if self._release:
            try:
                await self._dp.release_edge()
            except OSError as exc:
                logger.error("edge: soft stop failed: %s", exc)
            if self._proxy_started:
                await self._proxy.stop()
        await self.sb.close()
        await self._dp.close()
        await self.status_file.write_final()

    def _full_sync_done(self, then: Callable[[], None]) -> None:
        self.status_file.flush()  # "all served" in the file now, not at the next tick
        then()

    def _identity_changed(self, identity: Identity) -> None:
        self.sb.identity_changed(identity)

    async def _wait_or_stop(self, awaitable: Awaitable[object]) -> None:
        """Until `awaitable` is done or a stop is asked for, whichever comes first."""
        wait = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({stop, wait}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        wait.cancel()

    async def _until_ok(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
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

    async def _wait_identity(self) -> Identity:
        warned = False
        while True:
            identity = await self._dp.identity()
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
        """A sleep that a stop ends early, with CancelledError."""
        await self._wait_or_stop(self._clock.sleep(seconds))
        if self._stop.is_set():
            raise asyncio.CancelledError

    # -- status --------------------------------------------------------------------------

    def status(self) -> status.Status:
        identity = self.reconciler.identity
        own = identity.system_id if identity else "?"
        failing = self.reconciler.scheduler.failing
        frontends = self.reconciler.frontends
        return status.Status(
            agent_pid=os.getpid(),
            updated_at=self._clock.wall(),
            chassis=own,
            bridge=identity.bridge if identity else None,
            agent_id=self.role.agent_id(own) if identity else None,
            sb=self.sb.sb_state,
            sb_since=self.sb.sb_since,
            registered=self.sb.registered,
            sb_cfg=self.sb.heartbeat.written,
            edge_pid=self._dp.edge_pid,
            socket=self.settings.proxy.metadata_proxy_socket,
            networks=tuple(
                status.NetworkStatus(
                    network=net,
                    namespace=spec.namespace,
                    veth=(spec.veth_outer, spec.veth_inner),
                    iface_id=spec.iface_id,
                    mac=spec.mac,
                    addresses=tuple(sorted(spec.addresses)),
                    served=net in frontends,
                    failing=failing.get(net, 0),
                )
                for net, spec in sorted(self.reconciler.applied.items())
            ),
            failing=tuple(sorted(failing)),
            sb_index=self.sb.index_size(),
        )


@contextlib.contextmanager
def _captured_signals(handler: Callable[[signal.Signals], None]) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGUSR1 (a release) go to `handler` while the agent runs, the
    previous handlers come back afterwards (uvicorn's capture_signals; unlike uvicorn, the
    signal is not re-raised: a drained stop is a clean exit, status 0)."""
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    for sig in sigs:
        loop.add_signal_handler(sig, handler, sig)
    try:
        yield
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)
