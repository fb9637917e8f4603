"""What the agent's loop needs from the outside world, as Protocols (pure: types only).

    Dataplane  the host: local OVSDB (identity, bridge, ports), namespaces and veths, the edge
    SbLink     the southbound: one connection that feeds changes, and the Chassis_Private writes
    Proxy      the metadata socket that answers haproxy

`agent.adapters` implements them over `dataplane/` and `sb/client.py` (threads, netlink,
ovsdbapp); the unit tests implement them in memory (tests/unit/agent/fakes.py). Every method is
a coroutine, so the loop never knows which calls block a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.reconcile.actions import Action
from ovnmeta.agent.reconcile.observed import ObservedNetwork
from ovnmeta.agent.sb.changes import Change
from ovnmeta.core.model import Identity, NetworkId

Sink = Callable[[Change], None]  # always called on the loop's thread


class Dataplane(Protocol):
    @property
    def host_ipv6(self) -> bool:
        """IPv6 is enabled on the host (serve [fe80::a9fe:a9fe] where a port has IPv6)."""

    # -- local OVSDB ---------------------------------------------------------------------
    async def connect(self) -> None:
        """Raises an OvnmetaError while the local OVSDB is not reachable (retried)."""

    async def close(self) -> None: ...

    async def identity(self) -> Identity | None:
        """None while `external_ids:system-id` is not set."""

    async def bridge_exists(self, bridge: str) -> bool: ...

    # -- one network's host state (plug/unplug are actions too) --------------------------
    async def networks_on_host(self) -> frozenset[NetworkId]:
        """Networks with an `ovnmeta-*` namespace, broken ones included."""

    def read_ahead(self, namespaces: list[str]) -> None:
        """Non-blocking: start reading these namespaces, in this order, for the observes that
        follow (a full sync's; dataplane/read_ahead.py)."""

    async def observe(self, namespace: str, expected_outer: tuple[str, ...]) -> ObservedNetwork: ...

    async def apply(self, actions: tuple[Action, ...]) -> None: ...

    def namespace_names(self) -> set[str]:
        """The namespaces on the host, by name. Cheap and non-blocking: read before each
        edge commit to check every frontend's."""

    # -- the edge haproxy ----------------------------------------------------------------
    async def adopt_edge(self) -> dict[NetworkId, Frontend]:
        """Take over a running edge; the frontends it serves (empty: nothing to adopt)."""

    async def render_edge(self, frontends: list[Frontend]) -> None:
        """Serve exactly `frontends`: render, check, reload or start; raises EdgeError."""

    async def maintain_edge(self) -> None:
        """Background upkeep (merging the young shard into the main one); raises EdgeError."""

    async def release_edge(self) -> None:
        """Soft-stop every shard (the way back to upstream, dataplane/handback.py); returns
        once they exited."""

    @property
    def edge_pid(self) -> int | None:
        """The main shard's live haproxy pid, None if a shard of the edge is not running."""


class SbLink(Protocol):
    async def connect(self, own: str, sink: Sink) -> None:
        """Connect as chassis `own`; from then on every change goes to `sink`, starting with a
        Snapshot (and after each reconnect, a Disconnected and a new Snapshot)."""

    async def register(self, agent_id: str, bridge: str, nb_cfg: int) -> None: ...

    async def write_sb_cfg(self, nb_cfg: int) -> None: ...

    async def close(self) -> None: ...


class Proxy(Protocol):
    def prepare(self) -> None:
        """Non-blocking: load what `start` needs while the agent waits for the SB."""

    async def start(self) -> None:
        """Answer on the metadata socket (kept open across restarts)."""

    async def stop(self) -> None: ...
