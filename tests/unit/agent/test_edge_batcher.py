"""The edge-commit batching protocol, alone: generations, waiters, failures."""

import asyncio

import pytest

from ovnmeta.agent.edge_batcher import EDGE_BATCH_MAX_S, EdgeBatcher
from ovnmeta.core.errors import EdgeError

from .fakes import FakeClock, settle


class Edge:
    """A commit function that counts, can hang (gate) and can fail."""

    def __init__(self) -> None:
        self.commits = 0
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> None:
        self.commits += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error


def rig(busy=lambda: 0):
    time, edge = FakeClock(), Edge()
    batcher = EdgeBatcher(edge, busy, time.clock())
    return time, edge, batcher


def run(coro):
    return asyncio.run(coro)


async def running(batcher):
    task = asyncio.create_task(batcher.run())
    await settle()
    return task


def test_concurrent_requests_share_one_commit_and_are_all_released():
    async def go():
        time, edge, batcher = rig()
        task = await running(batcher)
        waiters = [batcher.request() for _ in range(50)]
        await time.advance(0.05)
        assert edge.commits == 1
        assert all(w.done() and w.result() is None for w in waiters)
        task.cancel()

    run(go())


def test_a_lone_request_commits_without_the_batching_wait():
    async def go():
        in_flight = [0]
        time, edge, batcher = rig(busy=lambda: in_flight[0])
        task = await running(batcher)
        lone = batcher.request()
        await settle()
        assert edge.commits == 1 and lone.done()  # the clock did not move
        in_flight[0] = 1  # another network being plumbed: this one waits to share
        second = batcher.request()
        await settle()
        assert edge.commits == 1 and not second.done()
        in_flight[0] = 0
        await time.advance(0.02)
        assert edge.commits == 2 and second.done()
        task.cancel()

    run(go())


def test_a_batch_waits_for_reconciles_in_flight_but_bounded():
    async def go():
        in_flight = [3]
        time, edge, batcher = rig(busy=lambda: in_flight[0])
        task = await running(batcher)
        first = batcher.request()
        await time.advance(0.2)
        assert edge.commits == 0  # others are still being plumbed: wait for them
        in_flight[0] = 0
        await time.advance(0.02)
        assert edge.commits == 1 and first.done()
        in_flight[0] = 3
        second = batcher.request()
        await time.advance(EDGE_BATCH_MAX_S + 0.02)
        assert edge.commits == 2 and second.done()  # never longer than EDGE_BATCH_MAX_S
        task.cancel()

    run(go())


def test_blocked_teardowns_do_not_hold_the_batch():
    async def go():
        in_flight = [1]  # the one reconcile in flight is the teardown waiting on the edge
        time, edge, batcher = rig(busy=lambda: in_flight[0])
        task = await running(batcher)
        teardown = asyncio.create_task(batcher.commit())
        await time.advance(0.02)
        assert edge.commits == 1 and teardown.done()
        task.cancel()

    run(go())


def test_requests_during_a_commit_wait_for_the_next_one():
    async def go():
        time, edge, batcher = rig(busy=lambda: 1)  # another reconcile in flight: batching
        edge.gate = asyncio.Event()
        task = await running(batcher)
        early = batcher.request()
        await time.advance(EDGE_BATCH_MAX_S + 0.02)
        assert edge.commits == 1  # committing, hung in the reload
        late = batcher.request()  # set up after the config was taken: not in this commit
        edge.gate.set()
        await settle()
        assert early.done() and not late.done()
        await time.advance(EDGE_BATCH_MAX_S + 0.02)
        assert edge.commits == 2 and late.done()
        task.cancel()

    run(go())


def test_a_failed_commit_reaches_every_waiter_and_the_next_commit_recovers():
    async def go():
        time, edge, batcher = rig()
        edge.error = EdgeError("edge haproxy: new config refused: bad")
        task = await running(batcher)
        waiters = [batcher.request() for _ in range(5)]
        await time.advance(0.02)
        for w in waiters:
            with pytest.raises(EdgeError, match="refused"):
                w.result()
        edge.error = None
        again = batcher.request()
        await time.advance(0.02)
        assert again.result() is None and edge.commits == 2
        task.cancel()

    run(go())
