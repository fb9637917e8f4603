"""The agent's seams (`agent.seams`) over the real thing: thin, deciding nothing.

Blocking calls (netlink, ovsdbapp, haproxy -c, the socket holder) run in worker threads; SB
changes produced in ovsdbapp's IDL thread are handed to the loop here, so nothing above this
module knows about threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ovnmeta.agent.dataplane import edge_shards, handback, netns, observe, ovs, takeover
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.dataplane.read_ahead import ReadAhead
from ovnmeta.agent.proxy import holder
from ovnmeta.agent.reconcile.actions import Action
from ovnmeta.agent.reconcile.observed import Link, ObservedNetwork
from ovnmeta.agent.sb import changes, client, registration
from ovnmeta.agent.sb.index import Index
from ovnmeta.agent.seams import Sink
from ovnmeta.agent.settings import EdgeSettings, OvsSettings, ProxySettings, SbSettings
from ovnmeta.core import names
from ovnmeta.core.errors import EdgeError, OvnmetaError, SbError
from ovnmeta.core.model import Identity, NetworkId

if TYPE_CHECKING:
    from ovnmeta.agent.proxy.server import ProxyServer

# The proxy's server and what it imports (aiohttp's server and client: ~0.2 s of CPU).
PROXY_SERVER = "ovnmeta.agent.proxy.server"


class HostDataplane:
    """`seams.Dataplane`: the local OVSDB, /run/netns and pyroute2, the edge haproxy."""

    def __init__(
        self,
        ovs_settings: OvsSettings,
        edge_settings: EdgeSettings,
        on_edge_restart: Callable[[], None] = lambda: None,
    ) -> None:
        self._ovs = ovs.Ovs(ovs_settings)
        self._edge = edge_shards.ShardedEdge(edge_settings, on_edge_restart)
        self._edge_settings = edge_settings
        self.host_ipv6 = netns.host_ipv6_enabled()
        self._ahead: ReadAhead[observe.Reading] = ReadAhead(_read_namespaces)

    async def connect(self) -> None:
        await asyncio.to_thread(self._ovs.connect)

    async def close(self) -> None:
        await asyncio.to_thread(self._ovs.close)

    async def identity(self) -> Identity | None:
        return await asyncio.to_thread(self._ovs.identity)

    async def bridge_exists(self, bridge: str) -> bool:
        return await asyncio.to_thread(self._ovs.bridge_exists, bridge)

    async def networks_on_host(self) -> frozenset[NetworkId]:
        found = await asyncio.to_thread(netns.list_names, names.NAMESPACE_PREFIX)
        return frozenset(n for name in found if (n := names.network_of_namespace(name)) is not None)

    def read_ahead(self, namespaces: list[str]) -> None:
        self._ahead.start(namespaces)

    async def observe(self, namespace: str, expected_outer: tuple[str, ...]) -> ObservedNetwork:
        return await asyncio.to_thread(self._observe, namespace, expected_outer)

    def _observe(self, namespace: str, expected_outer: tuple[str, ...]) -> ObservedNetwork:
        read = self._ahead.take(namespace)
        return observe.observe(namespace, expected_outer, self._ovs.ports_of, read)

    async def apply(self, actions: tuple[Action, ...]) -> None:
        # No reading taken before or during this apply is planned from afterwards.
        touched = {ns for a in actions if (ns := getattr(a, "namespace", None))}
        self._ahead.forget(touched)
        try:
            await asyncio.to_thread(_apply, actions, self._ovs)
        finally:
            self._ahead.forget(touched)

    def namespace_names(self) -> set[str]:
        # One directory read: a stat per frontend was 2-9 ms of the loop at 1,000 networks,
        # before every new network's edge commit.
        return set(netns.list_names(""))

    async def adopt_edge(self) -> dict[NetworkId, Frontend]:
        return await asyncio.to_thread(self._edge.adopt)

    async def render_edge(self, frontends: list[Frontend]) -> None:
        await asyncio.to_thread(self._render_edge, frontends)

    def _render_edge(self, frontends: list[Frontend]) -> None:
        self._edge.apply(frontends)
        # The edge listens now: retire what an upstream agent left serving these networks.
        served = {fe.network: fe.namespace for fe in frontends}
        takeover.retire_all(self._edge_settings.upstream_pids, served)

    async def maintain_edge(self) -> None:
        if self._edge.merge_due():
            await asyncio.to_thread(self._edge.merge)

    async def release_edge(self) -> None:
        await asyncio.to_thread(handback.soft_stop_edge, self._edge_settings)

    @property
    def edge_pid(self) -> int | None:
        return self._edge.pid


def _read_namespaces(
    namespaces: list[str], done: Callable[[str, observe.Reading | None], None]
) -> None:
    root: list[dict[str, Link]] = []  # the root netns's veths, dumped first

    def first() -> None:  # in the agent's netns, before the thread joins any namespace
        with contextlib.suppress(OvnmetaError):  # no root readings: each observe gets its own
            root.append(observe.root_veths())

    def each(name: str, outcome: object) -> None:
        inside = observe.inside_of(outcome) if root else None  # type: ignore[arg-type]
        done(name, observe.Reading(inside, root[0]) if inside is not None else None)

    netns.in_each_namespace(namespaces, observe.inside, each, first)


def _apply(actions: tuple[Action, ...], ports: ovs.Ovs) -> None:
    # Imported on the first change to the host, not at start (pyroute2 with it, ~0.2 s of
    # CPU): a restart that finds every network in place never needs it.
    from ovnmeta.agent.dataplane import apply

    apply.apply(actions, ports)


class SbConnection:
    """`seams.SbLink` over `sb.client.SbClient` (ovsdbapp, its own IDL thread)."""

    def __init__(
        self,
        settings: SbSettings,
        role: registration.Role = registration.METADATA_AGENT,
        hint_path: str | None = None,
    ) -> None:
        self._settings = settings
        self._role = role
        self._hint_path = hint_path
        self._client: client.SbClient | None = None

    async def connect(self, own: str, sink: Sink) -> None:
        loop = asyncio.get_running_loop()

        def from_idl_thread(change: changes.Change) -> None:
            loop.call_soon_threadsafe(sink, change)

        if self._client is None:
            self._client = client.SbClient(
                self._settings, own, from_idl_thread, self._role, self._hint_path
            )
        await asyncio.to_thread(self._client.connect)

    async def register(self, agent_id: str, bridge: str, nb_cfg: int) -> None:
        await asyncio.to_thread(self._require().register, agent_id, bridge, nb_cfg)

    async def write_sb_cfg(self, nb_cfg: int) -> None:
        await asyncio.to_thread(self._require().write_sb_cfg, nb_cfg)

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)

    def _require(self) -> client.SbClient:
        if self._client is None:
            raise SbError("southbound: not connected")
        return self._client


class HeldProxy:
    """`seams.Proxy`: the ProxyServer on the listener that `proxy.holder` keeps open across
    agent restarts (connections wait in its backlog while no agent runs)."""

    def __init__(
        self,
        settings: ProxySettings,
        state_path: str,
        index: Index,
        observe_request: Callable[[int, float], None],
    ) -> None:
        self._settings = settings
        self._base = os.path.join(state_path, "ovnmeta")
        self._index = index
        self._observe = observe_request
        self._server: ProxyServer | None = None

    def prepare(self) -> None:
        # Imported in a thread while the agent waits for the SB's reply, not on the way from
        # the snapshot to the first answer; a failure here is raised again by `start`'s import.
        threading.Thread(
            target=_import_quietly, args=(PROXY_SERVER,), name="ovnmeta-import", daemon=True
        ).start()

    async def start(self) -> None:
        from ovnmeta.agent.proxy.server import ProxyServer

        listener = await asyncio.to_thread(self._listener)
        self._server = ProxyServer(self._settings, self._index, self._observe, listener)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    def _listener(self) -> socket.socket:
        p = self._settings
        try:
            return holder.ensure(
                p.metadata_proxy_socket,
                os.path.join(self._base, "listener.ctl"),
                p.metadata_backlog,
                p.metadata_proxy_socket_mode,
                os.path.join(self._base, "listener.pid"),
            )
        except OSError as exc:
            raise EdgeError(f"{p.metadata_proxy_socket}: cannot get a listener: {exc}") from exc


def _import_quietly(module: str) -> None:
    # The import that needs the module raises its failure again, with its traceback.
    with contextlib.suppress(Exception):
        importlib.import_module(module)
