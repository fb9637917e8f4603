"""Per-network work queues: serial per network, parallel across networks (bounded).

Requests for a network that is already queued or running coalesce into one more run, so a
burst of SB events costs one reconcile. A failed run is retried with backoff; other networks
are not held up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ovnmeta.agent.reconcile import retry
from ovnmeta.core import logs
from ovnmeta.core.errors import OvnmetaError
from ovnmeta.core.model import NetworkId

logger = logging.getLogger(__name__)

Work = Callable[[NetworkId], Awaitable[None]]


class Scheduler:
    def __init__(
        self,
        work: Work,
        concurrency: int,
        next_delay: Callable[[int], float] = retry.next_delay,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._work = work
        self._slots = asyncio.Semaphore(concurrency)
        self._next_delay = next_delay
        self._sleep = sleep
        self._pending: set[NetworkId] = set()
        self._tasks: dict[NetworkId, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.failing: dict[NetworkId, int] = {}
        self._stopping = False

    def request(self, network: NetworkId) -> None:
        if self._stopping:
            return
        self._pending.add(network)
        if network not in self._tasks:
            self._idle.clear()
            self._tasks[network] = asyncio.create_task(
                self._worker(network), name=f"net-{network[:8]}"
            )

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def stop(self, timeout_s: float) -> None:
        """Let running reconciles finish (bounded), drop the queued ones."""
        self._stopping = True
        self._pending.clear()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _worker(self, network: NetworkId) -> None:
        attempt = 0
        log = logs.for_network(network, logger)
        try:
            while network in self._pending:
                self._pending.discard(network)
                async with self._slots:
                    if self._stopping:
                        return
                    try:
                        await self._work(network)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        # The scheduler's one broad catch: whatever broke this network
                        # (host state, a bug), the others keep being served; retry later.
                        attempt += 1
                        self.failing[network] = attempt
                        if attempt == 1:
                            log.warning(
                                "reconcile failed: %s",
                                exc,
                                exc_info=not isinstance(exc, OvnmetaError),
                            )
                        else:
                            log.debug("attempt %d failed: %s", attempt, exc)
                        self._pending.add(network)
                    else:
                        if attempt:
                            log.info("recovered after %d attempts", attempt + 1)
                        attempt = 0
                        self.failing.pop(network, None)
                if attempt and network in self._pending:
                    await self._sleep(self._next_delay(attempt))
        finally:
            del self._tasks[network]
            if not self._tasks:
                self._idle.set()
