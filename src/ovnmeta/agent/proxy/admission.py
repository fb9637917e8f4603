"""Who may call Nova now: bounded in-flight requests, queued fairly (pure; time passed in).

One agent serves every network of the compute through one pool of `nova_pool_size`
connections. Without this, one guest running back-to-back requests (or whose requests are slow
at Nova) fills the pool and everyone else waits behind it in the connector's FIFO queue. Here a
request holds a *slot* for its Nova call, and slots are bounded three ways:

    in_flight               the whole agent (the Nova pool: no request ever waits inside it)
    in_flight_per_network   one network (one tenant, normally)
    in_flight_per_source    one (network, guest address)

A request over a bound waits in its source's queue. When a slot frees, it goes to the network
holding the fewest slots among those with a waiter under its bounds (ties: least recently
served first), within it to the source holding the fewest (same tie rule), FIFO per source.
A flood therefore queues behind itself: another network's request takes the next slot that
frees, whatever the size of the flood, and a network slow at Nova holds at most its share.

What a request that cannot be served gets (the server writes the reply):
- it *waits*, up to `queue_timeout_s`: cloud-init's OpenStack reader never retries an HTTP
  error (any code >= 400) but does retry a timeout, so a short delay is always kinder to a
  booting guest than a refusal;
- `Rejected("source")` at once when its source already has `queued_per_source` waiting: the
  queue, and the memory and connections behind it, stay bounded per source;
- at the deadline, `Rejected` naming what blocked it: its own source's or network's share
  ("source", "network": the server answers 429, the guest is the cause) or the agent as a whole
  ("agent": 503, the service is saturated or Nova slow for everyone).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal, TypeVar

from ovnmeta.core.model import NetworkId

Reason = Literal["source", "network", "agent"]
RETRY_AFTER_S = 1  # slots are held for one Nova call: milliseconds, not seconds


@dataclass(frozen=True, slots=True)
class Limits:
    in_flight: int
    in_flight_per_network: int
    in_flight_per_source: int
    queued_per_source: int
    queue_timeout_s: float


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    network: NetworkId
    source: str  # the guest address, as the lookup saw it


@dataclass(frozen=True, slots=True)
class Admitted:
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class Queued:
    ticket: Ticket
    deadline: float  # same clock as `now`


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    retry_after_s: int = RETRY_AFTER_S

    @property
    def status(self) -> int:
        """429 when the guest's own share is full (its address's or its network's: the cause
        is its own load, as with upstream's rate limit); 503 when the whole agent is (Nova
        slow or saturated for everyone: the guest did nothing wrong)."""
        return 503 if self.reason == "agent" else 429


Decision = Admitted | Queued | Rejected
_Source = tuple[NetworkId, str]
_K = TypeVar("_K")


class Admission:
    """The slot ledger and the wait queues. Invariant, after every call: no waiter could be
    granted (each is blocked by a full bound), so an arrival whose bounds all have room may
    go first without overtaking anyone of its own source or network."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._ids = itertools.count(1)
        self._running = 0
        self._running_net: dict[NetworkId, int] = {}
        self._running_src: dict[_Source, int] = {}
        self._holding: set[Ticket] = set()
        # network -> source -> FIFO; dict order is the round-robin order (served go last)
        self._waiting: OrderedDict[NetworkId, OrderedDict[str, deque[Ticket]]] = OrderedDict()

    def arrive(self, network: NetworkId, source: str, now: float) -> Decision:
        ticket = Ticket(next(self._ids), network, source)
        if self._blocker(network, source) is None:
            self._take(ticket)
            return Admitted(ticket)
        queue = self._waiting.setdefault(network, OrderedDict()).setdefault(source, deque())
        if len(queue) >= self.limits.queued_per_source:
            self._drop_if_empty(network, source)
            return Rejected("source")
        queue.append(ticket)
        return Queued(ticket, now + self.limits.queue_timeout_s)

    def release(self, ticket: Ticket) -> tuple[Ticket, ...]:
        """The slot's Nova call is over -> the waiters granted a slot now, in grant order."""
        self._holding.remove(ticket)  # KeyError: released twice, or never admitted (a bug)
        self._running -= 1
        _decrement(self._running_net, ticket.network)
        _decrement(self._running_src, (ticket.network, ticket.source))
        return self._dispatch()

    def give_up(self, ticket: Ticket) -> Decision:
        """A waiter's deadline passed (or its client left): `Rejected` and out of the queue,
        or `Admitted` if a slot was granted to it in the meantime (the caller then owns it)."""
        if ticket in self._holding:
            return Admitted(ticket)
        queue = self._waiting.get(ticket.network, {}).get(ticket.source)
        if queue is None or ticket not in queue:
            raise ValueError(f"{ticket} is neither waiting nor holding a slot")
        queue.remove(ticket)
        self._drop_if_empty(ticket.network, ticket.source)
        reason = self._blocker(ticket.network, ticket.source) or "agent"
        return Rejected(reason)

    def in_flight(self, network: NetworkId | None = None, source: str | None = None) -> int:
        if network is None:
            return self._running
        if source is None:
            return self._running_net.get(network, 0)
        return self._running_src.get((network, source), 0)

    def queued(self, network: NetworkId | None = None, source: str | None = None) -> int:
        nets = self._waiting.values() if network is None else [self._waiting.get(network, {})]
        return sum(
            len(q) for srcs in nets for s, q in srcs.items() if source is None or s == source
        )

    def _blocker(self, network: NetworkId, source: str) -> Reason | None:
        lim = self.limits
        if self._running_src.get((network, source), 0) >= lim.in_flight_per_source:
            return "source"
        if self._running_net.get(network, 0) >= lim.in_flight_per_network:
            return "network"
        if self._running >= lim.in_flight:
            return "agent"
        return None

    def _take(self, ticket: Ticket) -> None:
        self._holding.add(ticket)
        self._running += 1
        net, src = ticket.network, (ticket.network, ticket.source)
        self._running_net[net] = self._running_net.get(net, 0) + 1
        self._running_src[src] = self._running_src.get(src, 0) + 1

    def _dispatch(self) -> tuple[Ticket, ...]:
        granted: list[Ticket] = []
        while self._running < self.limits.in_flight:
            ticket = self._next_grantable()
            if ticket is None:
                break
            self._take(ticket)
            granted.append(ticket)
        return tuple(granted)

    def _next_grantable(self) -> Ticket | None:
        """Among networks with a waiter under its bounds, the one with the fewest slots; ties
        to the least recently served. The same rule again between that network's sources."""
        lim = self.limits
        best: tuple[int, NetworkId, str] | None = None
        for network, sources in self._waiting.items():
            running = self._running_net.get(network, 0)
            if running >= lim.in_flight_per_network or (best is not None and running >= best[0]):
                continue
            source = self._fewest(network, sources)
            if source is not None:
                best = (running, network, source)
        if best is None:
            return None
        _, network, source = best
        sources = self._waiting[network]
        ticket = sources[source].popleft()
        sources.move_to_end(source)  # round robin: served last, asked last
        self._waiting.move_to_end(network)
        self._drop_if_empty(network, source)
        return ticket

    def _fewest(self, network: NetworkId, sources: OrderedDict[str, deque[Ticket]]) -> str | None:
        best: tuple[int, str] | None = None
        for source in sources:
            running = self._running_src.get((network, source), 0)
            if running < self.limits.in_flight_per_source and (best is None or running < best[0]):
                best = (running, source)
        return None if best is None else best[1]

    def _drop_if_empty(self, network: NetworkId, source: str) -> None:
        sources = self._waiting.get(network)
        if sources is None:
            return
        if source in sources and not sources[source]:
            del sources[source]
        if not sources:
            del self._waiting[network]


def _decrement(counts: dict[_K, int], key: _K) -> None:
    if counts[key] == 1:
        del counts[key]  # no entry per idle source: the ledger stays as small as the load
    else:
        counts[key] -= 1
