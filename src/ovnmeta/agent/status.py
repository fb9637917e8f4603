"""The status file: what this chassis serves, kept current by the agent (`Status`, `Keeper`),
read by `ovnmeta status` (`load`, `enrich`, `render_table`) and `ovnmeta healthcheck`.

The file is `Status` as JSON, keys in field order (`agent_pid`, `updated_at`, `chassis`, ...,
`networks`, `failing`); readers take it as a plain dict, so older files still read.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ovnmeta.core import tables
from ovnmeta.core.errors import UsageError
from ovnmeta.core.procfs import alive

logger = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # rewritten at least this often: `updated_at` shows the loop is alive
MIN_INTERVAL_S = 0.5  # and at most twice a second, however busy


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    network: str
    namespace: str
    veth: tuple[str, str]  # (root end, namespace end)
    iface_id: str
    mac: str
    addresses: tuple[str, ...]  # sorted
    served: bool
    failing: int  # failed attempts in a row, 0 when fine


@dataclass(frozen=True, slots=True)
class Status:
    agent_pid: int
    updated_at: float  # time.time()
    chassis: str  # "?" until the local OVSDB names it
    bridge: str | None
    agent_id: str | None
    sb: str  # connecting | connected | disconnected
    sb_since: float  # time.time() of the last change of `sb`
    registered: bool
    sb_cfg: int | None  # the last heartbeat value written
    edge_pid: int | None
    socket: str
    networks: tuple[NetworkStatus, ...]  # sorted by network
    failing: tuple[str, ...]  # sorted
    # what the SB index holds ({"ports": n, "datapaths": n}): local networks only (issue 14)
    sb_index: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        # Field by field: dataclasses.asdict deep-copies every value (~8,000 calls per write
        # at 1,000 networks, rewritten up to twice a second while a full sync runs).
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["networks"] = [{f: getattr(n, f) for f in _NETWORK_FIELDS} for n in self.networks]
        out["sb_index"] = dict(self.sb_index)
        return out


_NETWORK_FIELDS = tuple(f.name for f in dataclasses.fields(NetworkStatus))


def write(path: str, status: Status) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        # One C-encoded string: json.dump, or any indent, runs the pure-Python encoder.
        f.write(json.dumps(status.to_json()))
    os.replace(tmp, path)


class Keeper:
    """Rewrites the status file on change (`touch`), at most every MIN_INTERVAL_S, and at
    least every HEARTBEAT_S, so `updated_at` tells `ovnmeta healthcheck` the loop is alive.
    `flush` writes without the MIN_INTERVAL_S pause: when a full sync is done, the file says
    so at once, not up to half a second later (a restart's "all served" is read from it)."""

    def __init__(
        self,
        path: str,
        snapshot: Callable[[], Status],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.path = path
        self._snapshot = snapshot
        self._sleep = sleep
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._inflight: asyncio.Future[None] | None = None

    def touch(self) -> None:
        self._dirty.set()

    def flush(self) -> None:
        self._dirty.set()
        self._urgent.set()

    async def write_final(self) -> None:
        """The last word, after `run` was cancelled: a write still running in its thread
        finishes first, so it cannot replace this one with an older snapshot."""
        if self._inflight is not None:
            with contextlib.suppress(OSError):
                await self._inflight
        write(self.path, self._snapshot())

    async def run(self) -> None:
        failed = False
        while True:
            await self._dirty_or_heartbeat()
            self._dirty.clear()
            self._urgent.clear()
            snapshot = self._snapshot()  # on the loop: the agent's dicts cannot change under it
            self._inflight = asyncio.ensure_future(asyncio.to_thread(write, self.path, snapshot))
            try:
                await asyncio.shield(self._inflight)
            except OSError as exc:  # a full disk must not end the heartbeat for good
                if not failed:
                    logger.warning("cannot write the status file: %s (retrying)", exc)
                failed = True
            else:
                if failed:
                    logger.info("status file written again")
                failed = False
            await _first_of(self._urgent.wait(), self._sleep(MIN_INTERVAL_S))

    async def _dirty_or_heartbeat(self) -> None:
        await _first_of(self._dirty.wait(), self._sleep(HEARTBEAT_S))


async def _first_of(*awaitables: Awaitable[object]) -> None:
    """Until one of `awaitables` is done; the others are cancelled."""
    futures = {asyncio.ensure_future(a) for a in awaitables}
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in futures:
            f.cancel()


def load(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no status file (has the agent run with this config?)") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable status file: {exc}") from exc


def enrich(status: dict) -> dict:
    """Liveness is checked now, not taken from the file."""
    return {
        **status,
        "agent_running": alive(status.get("agent_pid")),
        "edge_running": alive(status.get("edge_pid")),
        "namespaces_present": {
            n["network"]: os.path.exists(os.path.join("/run/netns", n["namespace"]))
            for n in status.get("networks", [])
        },
    }


def render_table(s: dict) -> str:
    lines = [
        f"chassis     {s.get('chassis')}  (bridge {s.get('bridge')}, agent id {s.get('agent_id')})",
        f"agent       pid {s.get('agent_pid')} "
        f"{'running' if s['agent_running'] else 'NOT RUNNING'}",
        f"edge        haproxy pid {s.get('edge_pid')} "
        f"{'running' if s['edge_running'] else 'NOT RUNNING'}",
        f"southbound  {s.get('sb')}, registered {s.get('registered')}, sb-cfg {s.get('sb_cfg')}",
        f"socket      {s.get('socket')}",
        "",
    ]
    header = ("NETWORK", "NAMESPACE", "PORTS", "IFACE-ID", "ADDRESSES", "STATE")
    rows: list[tuple[str, ...]] = []
    for n in s.get("networks", []):
        state = "served" if n["served"] else "pending"
        if n.get("failing"):
            state = f"failing x{n['failing']}"
        if not s["namespaces_present"].get(n["network"], False):
            state += " (namespace missing)"
        rows.append(
            (
                n["network"],
                "yes" if s["namespaces_present"].get(n["network"]) else "no",
                "/".join(n["veth"]),
                n["iface_id"],
                " ".join(n["addresses"]),
                state,
            )
        )
    lines.append(tables.render(header, rows))
    lines.append(f"{len(rows)} networks served")
    return "\n".join(lines)
