"""Group commit: callers in several threads submit items, one of them commits them together.

ovs-vswitchd re-reads every kernel device over netlink on each reconfiguration: with 1,000
networks on a compute each one costs about a second, and plugs made one transaction each
queue up behind each other (bench/agent_bench.py's provisioning). The plug no longer waits
for the reconfiguration (dataplane/ovs.py), but each transaction still triggers one, and the
IDL thread commits one transaction at a time. Here the first caller commits; whoever arrives while
a commit runs is queued, and when it ends the oldest queued caller commits the whole queue in
one. Each caller commits at most one group, the one holding its own item, so no caller is kept
committing others' items while its own work waits. A failed group is committed again one item
at a time, so one bad item fails only its own caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Slot(Generic[T]):
    item: T
    woken: threading.Event = field(default_factory=threading.Event)  # done, or to lead
    done: bool = False
    leads: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, commit: Callable[[Sequence[T]], None]) -> None:
        """`commit(items)` applies all of them at once or raises."""
        self._commit = commit
        self._lock = threading.Lock()
        self._queue: list[_Slot[T]] = []
        self._running = False
        self.commits = 0

    def submit(self, item: T) -> None:
        """Return once `item` is committed; raise what its commit raised."""
        slot = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            slot.leads = not self._running
            self._running = True
        while not slot.leads:
            slot.woken.wait()
            slot.woken.clear()
            if slot.done:
                break
        else:
            self._lead()
        if slot.error is not None:
            raise slot.error

    def _lead(self) -> None:
        """Commit everything queued (our own item included), then pass the lead on."""
        with self._lock:
            group, self._queue = self._queue, []
        self._run(group)
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.leads = True
                successor.woken.set()
            else:
                self._running = False

    def _run(self, group: list[_Slot[T]]) -> None:
        try:
            self.commits += 1
            self._commit([slot.item for slot in group])
        except BaseException as exc:
            if len(group) == 1:
                group[0].error = exc
            else:
                for slot in group:  # one at a time: only the bad item's caller fails
                    self._run([slot])
                return
        for slot in group:
            slot.done = True
            slot.woken.set()
