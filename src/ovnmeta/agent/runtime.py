"""What every part of the agent's loop shares: the clock it reads and the background tasks it
starts. Passed in, so a test runs the whole loop on a fake clock, without real sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Clock:
    monotonic: Callable[[], float] = time.monotonic  # durations, deadlines
    wall: Callable[[], float] = time.time  # timestamps in the status file
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class Tasks:
    """Background tasks that shutdown cancels; finished ones are dropped as new ones start."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def spawn(self, coro: Coroutine[Any, Any, None], name: str | None = None) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
