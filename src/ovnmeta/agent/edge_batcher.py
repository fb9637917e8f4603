"""Edge commits, batched: concurrent reconciles share one haproxy config check and reload.

Each `request()` takes a new generation number and returns a future. The committer wakes up,
waits EDGE_BATCH_S (and, while other networks are still being plumbed, up to EDGE_BATCH_MAX_S;
a lone request with nothing else in flight does not wait),
notes the latest generation and commits once; every waiter up to that generation is released
with the outcome (a failed commit is handed to each of them, so their reconciles retry), the
later ones wait for the next round. 200 networks appearing at once cost a few reloads, not 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ovnmeta.agent.runtime import Clock

EDGE_BATCH_S = 0.01
EDGE_BATCH_MAX_S = 0.5


class EdgeBatcher:
    def __init__(
        self,
        commit: Callable[[], Awaitable[None]],
        busy: Callable[[], int],
        clock: Clock,
        batch_s: float = EDGE_BATCH_S,
        max_s: float = EDGE_BATCH_MAX_S,
    ) -> None:
        """`commit` makes the edge serve the current frontends; `busy` counts the reconciles
        in flight (a batch waits for those not blocked on the edge themselves)."""
        self._commit = commit
        self._busy = busy
        self._clock = clock
        self._batch_s = batch_s
        self._max_s = max_s
        self._kick = asyncio.Event()
        self._generation = 0
        self._blocking = 0  # reconciles holding a scheduler slot while awaiting the edge
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.commits = 0

    def request(self) -> asyncio.Future[None]:
        """Resolved once the edge serves at least what the caller has set up until now."""
        self._generation += 1
        done = asyncio.get_running_loop().create_future()
        self._waiters.append((self._generation, done))
        self._kick.set()
        return done

    async def commit(self) -> None:
        """`request()` for a caller that holds a scheduler slot meanwhile (a teardown)."""
        self._blocking += 1
        try:
            await self.request()
        finally:
            self._blocking -= 1

    async def run(self) -> None:
        while True:
            await self._kick.wait()
            first = self._clock.monotonic()
            # The requests' reconciles have returned their scheduler slots by now (nothing
            # awaits between a reconcile's request() and its end), so busy() counts others.
            if not self._alone():
                await self._clock.sleep(self._batch_s)
            # While other networks are still being plumbed, wait for them (bounded): a reload
            # of a big config costs CPU that the plumbing needs, so fewer, larger batches.
            while self._busy() > self._blocking and self._clock.monotonic() - first < self._max_s:
                await self._clock.sleep(self._batch_s)
            self._kick.clear()
            generation = self._generation
            error: BaseException | None = None
            self.commits += 1
            try:
                await self._commit()
            except Exception as exc:  # handed to every waiter: their reconcile fails, retries
                error = exc
            self._release(generation, error)

    def _alone(self) -> bool:
        """One waiter and no other reconcile in flight: nothing to batch it with, so the
        batching wait (EDGE_BATCH_S, ~10 of a new network's ~90 ms) is skipped."""
        return len(self._waiters) == 1 and self._busy() <= self._blocking

    def _release(self, generation: int, error: BaseException | None) -> None:
        still_waiting = []
        for wanted, fut in self._waiters:
            if wanted > generation:
                still_waiting.append((wanted, fut))
            elif not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)
        self._waiters = still_waiting
