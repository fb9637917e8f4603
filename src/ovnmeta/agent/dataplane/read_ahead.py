"""A full sync's namespaces read ahead of their reconciles, one thread for all of them.

At 1,000 networks a full sync observed each namespace from a worker thread that started a
thread of its own to join it: ~1.3 ms of sampled time per namespace, a third of it starting
and joining those threads. `start(namespaces)` reads their insides in one thread that joins
them in turn (netns.in_each_namespace), in the order the full sync asks for them, while the
reconciles run; `take(namespace)`, in the reconcile's observe, waits for that reading.

A reading is used once, by the next observe of its namespace, and only if it is fresh: it is
dropped after FRESH_S, and when anything is applied in that namespace (`forget`, before and
after the apply), so a reading that may predate a change is never planned from. Where there is
none, or the read failed for another reason than the namespace's absence, observe reads the
namespace itself, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
FRESH_S = 5.0  # a reading older than this is not used
WAIT_S = 10.0  # the longest a take waits for the reader to reach its namespace

# Starts reading `names` in turn, calling `done(name, reading or None)` after each.
Reader = Callable[[list[str], Callable[[str, T | None], None]], object]


@dataclass
class _Entry(Generic[T]):
    ready: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    at: float = 0.0


class ReadAhead(Generic[T]):
    def __init__(self, reader: Reader[T], clock: Callable[[], float] = time.monotonic) -> None:
        self._reader = reader
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry[T]] = {}

    def start(self, namespaces: Iterable[str]) -> None:
        """Read `namespaces` ahead, in this order (a reading still untaken is replaced)."""
        names = list(dict.fromkeys(namespaces))
        batch = {name: _Entry[T]() for name in names}
        with self._lock:
            self._entries.update(batch)
        if not names:
            return

        def done(name: str, value: T | None) -> None:
            entry = batch[name]
            entry.value, entry.at = value, self._clock()
            entry.ready.set()

        try:
            self._reader(names, done)
        except BaseException:
            self.forget(names)
            raise

    def take(self, namespace: str, wait_s: float = WAIT_S) -> T | None:
        """The reading of `namespace`, waiting for the reader to reach it; None if there is
        none, it failed, or it is no longer fresh. Blocking: called from a worker thread."""
        with self._lock:
            entry = self._entries.pop(namespace, None)
        if entry is None or not entry.ready.wait(wait_s):
            return None
        if entry.value is None or self._clock() - entry.at > FRESH_S:
            return None
        return entry.value

    def forget(self, namespaces: Iterable[str]) -> None:
        """Something changes (or changed) in `namespaces`: their readings are not used."""
        with self._lock:
            for name in namespaces:
                self._entries.pop(name, None)

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)
