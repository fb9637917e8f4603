"""SB changes -> the index -> touched networks -> the scheduler; registration and heartbeat.

Changes arrive on one queue (the SB link's sink) and are handled one at a time, in order:
a Snapshot replaces the index and triggers a full sync and the Chassis_Private registration,
port and datapath changes request the networks they touched, SB_Global.nb_cfg bumps become
the liveness heartbeat (`sb.registration.Heartbeat` decides when to write).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ovnmeta.agent.metrics import Metrics
from ovnmeta.agent.reconciler import Reconciler
from ovnmeta.agent.runtime import Clock, Tasks
from ovnmeta.agent.sb import changes, registration
from ovnmeta.agent.sb.index import Index
from ovnmeta.agent.seams import SbLink
from ovnmeta.core.errors import OvnmetaError
from ovnmeta.core.model import Identity

logger = logging.getLogger(__name__)


class SbDispatch:
    def __init__(
        self,
        sb: SbLink,
        index: Index,
        reconciler: Reconciler,
        metrics: Metrics,
        tasks: Tasks,
        clock: Clock,
        heartbeat: registration.Heartbeat,
        on_change: Callable[[], None],
        role: registration.Role = registration.METADATA_AGENT,
    ) -> None:
        """`role`: the upstream agent registered as (its keys and id)."""
        self._sb = sb
        self._index = index
        self._reconciler = reconciler
        self._metrics = metrics
        self._tasks = tasks
        self._clock = clock
        self.heartbeat = heartbeat
        self.role = role
        self._on_change = on_change
        self._changes: asyncio.Queue[changes.Change] = asyncio.Queue()
        self.sb_state = "connecting"
        self.sb_since = clock.wall()  # when sb_state last changed
        self.registered = False
        self.loaded = asyncio.Event()  # the first snapshot is in the index
        # Set by the agent once the proxy answers: the first full sync waits for it, so the
        # start-up order is fixed (snapshot loaded -> proxy up -> full sync -> registration).
        self.serving = asyncio.Event()

    def sink(self, change: changes.Change) -> None:
        self._changes.put_nowait(change)

    async def connect(self, own: str) -> None:
        await self._sb.connect(own, self.sink)

    async def close(self) -> None:
        await self._sb.close()

    def identity_changed(self, identity: Identity) -> None:
        """The local OVSDB names another chassis or bridge: register again, then resync."""
        self.registered = False
        self.sink(changes.ChassisPrivateCreated(self.heartbeat.written or 0))

    def index_size(self) -> dict[str, int]:
        return self._index.size()

    @property
    def own(self) -> str:
        identity = self._reconciler.identity
        return identity.system_id if identity else "?"

    async def consume(self) -> None:
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
                self._index.apply(change)
                self._set_sb_state("connected")
                self._metrics.sb_connected.set(1)
                logger.info(
                    "southbound %s: %d ports, %d networks",
                    "resynced" if change.reconnect else "loaded",
                    len(change.ports),
                    len(change.datapaths),
                )
                if not self.loaded.is_set():
                    self.loaded.set()
                    await self.serving.wait()
                await self._reconciler.full_sync()
                # At start the sb-cfg is Chassis_Private.nb_cfg, so a new agent shows up
                # alive at once; SB_Global.nb_cfg is written on its next update.
                if change.chassis_private_nb_cfg is not None:
                    await self._register(change.chassis_private_nb_cfg)
            case changes.Disconnected():
                self._set_sb_state("disconnected")
                self._metrics.sb_connected.set(0)
                logger.warning("southbound connection lost; reconnecting")
            case changes.ChassisPrivateCreated(nb_cfg=nb_cfg):
                logger.info(
                    "Chassis_Private %s was (re)created: registering and resyncing", self.own
                )
                self.registered = False
                await self._register(nb_cfg)
                await self._reconciler.full_sync()
            case changes.NbCfgChanged(nb_cfg=nb_cfg):
                if self.registered:
                    self._heartbeat(nb_cfg)
            case _:
                for net in self._index.apply(change):
                    self._reconciler.request(net)
        self._on_change()

    def _set_sb_state(self, state: str) -> None:
        if state != self.sb_state:
            self.sb_state, self.sb_since = state, self._clock.wall()

    async def _register(self, nb_cfg: int) -> None:
        identity = self._reconciler.identity
        assert identity is not None
        try:
            await self._sb.register(self.role.agent_id(identity.system_id), identity.bridge, nb_cfg)
        except OvnmetaError as exc:
            logger.warning("%s (retrying on the next Chassis_Private event or resync)", exc)
            return
        self.registered = True
        self.heartbeat.done(nb_cfg)
        logger.info(
            "registered in Chassis_Private %s as %s (sb-cfg %d)",
            self.own,
            self.role.agent_type,
            nb_cfg,
        )

    def _heartbeat(self, nb_cfg: int) -> None:
        delay = self.heartbeat.observe(nb_cfg, self._clock.monotonic())
        if delay is not None:
            self._tasks.spawn(self._write_heartbeat(delay))

    async def _write_heartbeat(self, delay: float) -> None:
        await self._clock.sleep(delay)
        value = self.heartbeat.due()
        if value is None:
            return
        try:
            await self._sb.write_sb_cfg(value)
        except OvnmetaError as exc:
            self.heartbeat.target = None  # let the next nb_cfg bump try again
            logger.warning("%s", exc)
            return
        self.heartbeat.done(value)
        logger.debug("heartbeat: sb-cfg %d written", value)
