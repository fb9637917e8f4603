import asyncio

from ovnmeta.agent.scheduler import Scheduler


def run(coro):
    return asyncio.run(coro)


def test_serial_per_network_parallel_across_and_bounded():
    async def go():
        running, peak, per_net, log = set(), [0], {}, []

        async def work(net):
            assert net not in running, "two runs of one network at once"
            running.add(net)
            peak[0] = max(peak[0], len(running))
            per_net[net] = per_net.get(net, 0) + 1
            await asyncio.sleep(0.01)
            log.append(net)
            running.discard(net)

        s = Scheduler(work, concurrency=3)
        for net in ["a", "b", "c", "d", "e"]:
            s.request(net)
        await asyncio.sleep(0.001)  # "a" is running now
        for _ in range(5):
            s.request("a")  # coalesced into one more run
        await s.wait_idle()
        assert peak[0] == 3
        assert per_net["a"] == 2 and per_net["e"] == 1

    run(go())


def test_failures_retry_with_backoff_without_blocking_others():
    async def go():
        calls = {"bad": 0, "good": 0}

        async def work(net):
            calls[net] += 1
            if net == "bad" and calls["bad"] < 3:
                raise RuntimeError("boom")

        s = Scheduler(work, concurrency=1, next_delay=lambda attempt: 0.001)
        s.request("bad")
        s.request("good")
        await s.wait_idle()
        assert calls == {"bad": 3, "good": 1}
        assert s.failing == {}

    run(go())


def test_stop_drops_queued_work():
    async def go():
        seen = []

        async def work(net):
            seen.append(net)
            await asyncio.sleep(0.05)

        s = Scheduler(work, concurrency=1)
        s.request("a")
        s.request("b")
        await asyncio.sleep(0.01)
        await s.stop(timeout_s=1)
        assert seen == ["a"]

    run(go())
