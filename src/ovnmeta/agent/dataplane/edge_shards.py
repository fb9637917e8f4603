"""The edge as two haproxies (dataplane/edge_placement.py decides who serves what).

`apply` (the batched edge commit) reloads `young` for new and changed networks, and `main`
only when it must stop serving a network; `merge` (the supervisor, in the background) moves
young's networks into main. Each shard has its own lock, so a new network's reload of young
never waits behind a merge's reload of main. While a network moves, both shards listen on
its address (SO_REUSEPORT); the namespace's tcp_migrate_req hands connections queued on the
listener young closes to main's, so the move fails no request.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterable

from ovnmeta.agent.dataplane import edge_placement, netns
from ovnmeta.agent.dataplane.haproxy import Edge
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.settings import EdgeSettings
from ovnmeta.core.model import NetworkId

logger = logging.getLogger(__name__)


class ShardedEdge:
    def __init__(
        self, settings: EdgeSettings, on_restart: Callable[[], None] = lambda: None
    ) -> None:
        self.main = Edge(settings, on_restart=on_restart)
        self.young = Edge(settings, edge_placement.YOUNG, on_restart)
        self._main_lock = threading.Lock()
        self._young_lock = threading.Lock()
        self._wanted: dict[NetworkId, Frontend] = {}
        self._young_changed = time.monotonic()
        self.merges = 0

    @property
    def pid(self) -> int | None:
        """The main shard's pid, None if either shard is down (the supervisor restarts it)."""
        if self.young.pid is None:
            return None
        return self.main.pid

    @property
    def pids(self) -> tuple[int | None, int | None]:
        return self.main.pid, self.young.pid

    def adopt(self) -> dict[NetworkId, Frontend]:
        """Take over both shards; a network both serve (a merge cut short) is main's."""
        young = self.young.adopt()
        main = self.main.adopt()
        self._wanted = {**young, **main}
        return dict(self._wanted)

    def apply(self, frontends: Iterable[Frontend]) -> bool:
        """Serve exactly `frontends`; True if a shard had to change."""
        wanted = {fe.network: fe for fe in frontends}
        self._wanted = wanted
        if self.main.pid is None:
            # A cold start (or main died): main starts beside young, not after it. Each start
            # is a haproxy parsing its config, ~0.2-0.45 s here, and the first networks'
            # guests waited for both in a row (docs/agent.md, "Start-up, measured").
            with concurrent.futures.ThreadPoolExecutor(1, "ovnmeta-edge-main") as pool:
                main = pool.submit(self._apply_main, wanted)
                changed = self._apply_young(wanted)
                return main.result() or changed
        return self._apply_young(wanted) | self._apply_main(wanted)

    def _apply_young(self, wanted: dict[NetworkId, Frontend]) -> bool:
        changed = False
        with self._young_lock:
            placed = edge_placement.place(self.main.frontends, self.young.frontends, wanted)
            if self.young.apply(placed.young.values()):
                self._young_changed = time.monotonic()
                changed = True
        return changed

    def _apply_main(self, wanted: dict[NetworkId, Frontend]) -> bool:
        # Young serves the new and changed networks now. Main must let go of what is no longer
        # wanted before this returns (the namespace goes next), waiting for a merge if one
        # runs; otherwise it is only offered its frontends (a setting changed across a restart:
        # Edge.apply reloads only for another text) when no merge holds it, which renders
        # the same settings anyway: new networks never wait for main's reload.
        placed = edge_placement.place(self.main.frontends, self.young.frontends, wanted)
        if placed.main != self.main.frontends or self.main.pid is None:
            self._main_lock.acquire()
        elif not self._main_lock.acquire(blocking=False):
            return False
        try:
            placed = edge_placement.place(self.main.frontends, self.young.frontends, wanted)
            return self.main.apply(placed.main.values())
        finally:
            self._main_lock.release()

    def merge_due(self) -> bool:
        return edge_placement.merge_due(
            len(self.young.frontends), time.monotonic() - self._young_changed
        )

    def merge(self) -> bool:
        """Move young's networks into main; False if there was nothing to move."""
        with self._main_lock:
            young = dict(self.young.frontends)
            target = edge_placement.merged(self.main.frontends, young, self._wanted)
            moving = [fe for n, fe in young.items() if target.get(n) == fe]
            if not moving:
                return False
            started = time.monotonic()
            for fe in moving:  # before main binds: both listeners join one reuseport group
                netns.migrate_requests(fe.namespace)
            self.main.apply(target.values())
            # A network torn down meanwhile did not wait for this lock (it was not main's yet)
            kept = edge_placement.place(self.main.frontends, {}, self._wanted).main
            if kept != self.main.frontends:
                self.main.apply(kept.values())
        with self._young_lock:
            rest = {n: fe for n, fe in self.young.frontends.items() if target.get(n) != fe}
            self.young.apply(rest.values())
            self._young_changed = time.monotonic()
        self.merges += 1
        logger.info(
            "edge: %d networks merged into the main haproxy (%d there, %d young) in %.0f ms",
            len(moving),
            len(target),
            len(rest),
            (time.monotonic() - started) * 1000,
        )
        return True
