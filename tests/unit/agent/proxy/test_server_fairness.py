"""The proxy server under hostile guests: request targets, fairness, rate-limited log lines.

Real aiohttp server on a UNIX socket, the fake Nova of test_server.py; its `/hold` path keeps a
request at Nova until the test opens the gate, so who waits is observed, not timed.
"""

import asyncio
import contextlib
import ipaddress
import logging

import aiohttp
import pytest

from ovnmeta.agent.proxy import request
from ovnmeta.agent.proxy.server import ProxyServer
from ovnmeta.core.model import Vif
from tests.unit.agent.proxy.test_server import (
    INSTANCE,
    NET,
    VM,
    FakeNova,
    Index,
    edge_headers,
    settings,
)

NET_B = "0b0b0b0b-1111-4222-8333-444455556666"
VICTIM = "c0ffee00-0000-4000-8000-000000000001"
VM_B = Vif(
    "p2", "lp2", "dpb", "fa:16:3e:00:00:22", ("10.1.0.22",), ("ch",), frozenset(), VICTIM, "projB"
)
HOSTILE_IP, VICTIM_IP = "10.0.0.11", "10.1.0.22"
MD = "/openstack/latest/meta_data.json"
GUARD_S = 10  # a hang guard for a broken test, never a timing assertion


class TwoNetworks:
    """The PortIndex of a compute with one instance on NET and one on NET_B."""

    def __init__(self, *more_on_net):
        self.ports = {NET: (VM, *more_on_net), NET_B: (VM_B,)}

    def ports_by_ip(self, network, ip):
        return tuple(p for p in self.ports.get(network, ()) if ip in p.ips)

    def ports_by_mac(self, network, mac):
        return tuple(p for p in self.ports.get(network, ()) if p.mac == mac)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, GUARD_S))


@contextlib.asynccontextmanager
async def stack(tmp_path, index=None, **kw):
    """test_server.stack, also handing out the proxy (its slot ledger)."""
    nova = FakeNova()
    await nova.start()
    seen = []
    proxy = ProxyServer(
        settings(tmp_path, nova.port, **kw), index or Index(VM), lambda st, _: seen.append(st)
    )
    await proxy.start()
    conn = aiohttp.UnixConnector(path=str(tmp_path / "metadata_proxy"), limit=0)
    async with aiohttp.ClientSession(connector=conn) as client:
        try:
            yield client, nova, proxy, seen
        finally:
            nova.gate.set()
            await proxy.stop()
            await nova.stop()


async def until(condition):
    while not condition():
        await asyncio.sleep(0.005)


async def raw_get(path, target, headers):
    """One request with exactly this request target (aiohttp's client always sends
    origin-form) -> (status, headers, body)."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    lines = [f"GET {target} HTTP/1.1", "Host: 169.254.169.254", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), fields, body


@pytest.mark.parametrize(
    ("target", "nova_path"),
    [
        ("http://169.254.169.254" + MD, MD),
        ("http://169.254.169.254:80/latest/meta-data/?x=1", "/latest/meta-data/?x=1"),
        ("http://[fe80::a9fe:a9fe]" + MD, MD),
        ("http://[fe80::a9fe:a9fe]:80/openstack", "/openstack"),
        ("http://169.254.169.254", "/"),
        (MD, MD),
    ],
    ids=["v4", "v4-port-80-query", "v6", "v6-port-80", "no-path", "origin-form"],
)  # fmt: skip
def test_absolute_form_to_the_metadata_host_served_like_origin_form(tmp_path, target, nova_path):
    async def go():
        async with stack(tmp_path) as (_, nova, _, seen):
            status, _, body = await raw_get(tmp_path / "metadata_proxy", target, edge_headers())
            assert (status, body) == (200, b'{"uuid": "%s"}' % INSTANCE.encode())
            assert nova.seen[0][1] == nova_path  # Nova always gets origin-form
            assert seen == [200]

    run(go())


@pytest.mark.parametrize(
    "target",
    [
        "http://10.255.0.11:8775/openstack/latest/meta_data.json",
        "http://example.com/latest/meta-data/",
        "http://169.254.169.254:8080/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
    ],
    ids=["nova-address", "other-name", "other-port", "https"],
)
def test_absolute_form_to_another_host_is_400_and_never_reaches_nova(tmp_path, caplog, target):
    async def go():
        async with stack(tmp_path) as (_, nova, _, seen):
            status, fields, _ = await raw_get(tmp_path / "metadata_proxy", target, edge_headers())
            assert status == 400 and fields["Content-Type"] == "text/plain; charset=UTF-8"
            assert nova.seen == [] and seen == [400]

    with caplog.at_level(logging.WARNING):
        run(go())
    assert "nova unreachable" not in caplog.text  # the false alarm this used to log
    assert "refused request target" in caplog.text


def test_flood_on_one_network_leaves_the_other_served(tmp_path):
    """Network A's guest fills its share with requests Nova holds; B's guest is answered
    while every one of A's is still pending, and A never has more than its share at Nova."""

    async def go():
        async with stack(
            tmp_path,
            index=TwoNetworks(),
            nova_pool_size=4,
            in_flight_per_network=3,
            in_flight_per_source=3,
        ) as (client, nova, proxy, _):

            async def hostile():
                async with client.get("http://x/hold", headers=edge_headers()) as r:
                    return r.status

            flood = [asyncio.create_task(hostile()) for _ in range(12)]
            await until(lambda: nova.holding == 3 and proxy.fairness.queued(NET) == 9)
            victim = edge_headers(ip=VICTIM_IP, net=NET_B)
            async with client.get("http://x/openstack/latest/meta_data.json", headers=victim) as r:
                assert r.status == 200
                assert (await r.json())["uuid"] == VICTIM
            assert nova.holding == 3 and not any(t.done() for t in flood)
            nova.gate.set()
            assert await asyncio.gather(*flood) == [200] * 12

    run(go())


def test_a_neighbour_on_the_flooded_network_goes_before_the_flood(tmp_path):
    async def go():
        neighbour = Vif(
            "p3", "lp3", "dp", "fa:16:3e:00:00:33", ("10.0.0.33",), ("ch",), frozenset(), "n", "p"
        )
        index = TwoNetworks(neighbour)
        async with stack(
            tmp_path, index=index, in_flight_per_network=2, in_flight_per_source=2
        ) as (client, nova, proxy, _):

            async def get(ip, path):
                async with client.get(f"http://x{path}", headers=edge_headers(ip=ip)) as r:
                    return r.status

            flood = [asyncio.create_task(get(HOSTILE_IP, "/hold")) for _ in range(6)]
            await until(lambda: nova.holding == 2 and proxy.fairness.queued(NET) == 4)
            waiting = asyncio.create_task(get("10.0.0.33", "/"))
            await until(lambda: proxy.fairness.queued(NET, "10.0.0.33") == 1)
            nova.gate.set()
            assert await waiting == 200
            assert await asyncio.gather(*flood) == [200] * 6
            # Granted one of the two slots freed first, ahead of the 4 queued before it
            # (FIFO would put it 7th).
            assert [path for _, path, _, _ in nova.seen].index("/") in (2, 3)

    run(go())


def test_full_source_queue_answers_429_with_retry_after(tmp_path, caplog):
    async def go():
        async with stack(
            tmp_path, in_flight_per_network=1, in_flight_per_source=1, queued_per_source=1
        ) as (client, nova, proxy, seen):

            async def get(path):
                async with client.get(f"http://x{path}", headers=edge_headers()) as r:
                    return r.status, r.headers.get("Retry-After"), await r.read()

            held = asyncio.create_task(get("/hold"))
            await until(lambda: nova.holding == 1)
            queued = asyncio.create_task(get("/"))
            await until(lambda: proxy.fairness.queued() == 1)
            status, retry_after, body = await get("/")
            assert (status, retry_after) == (429, "1") and b"Too many requests" in body
            nova.gate.set()
            assert (await held)[0] == 200 and (await queued)[0] == 200
            assert sorted(seen) == [200, 200, 429]

    with caplog.at_level(logging.WARNING):
        run(go())
    assert "429 for 10.0.0.11 on network " + NET in caplog.text
    assert (
        "source share full (in_flight_per_source = 1, 1 at nova; 1 of its waiting)" in caplog.text
    )


@pytest.mark.parametrize(
    ("limits", "blocker", "status"),
    [
        ({"in_flight_per_network": 2, "in_flight_per_source": 1}, edge_headers(), 429),
        (
            {"nova_pool_size": 1, "in_flight_per_network": 1, "in_flight_per_source": 1},
            edge_headers(ip=VICTIM_IP, net=NET_B),
            503,
        ),
    ],
    ids=["own-share-full-429", "agent-full-503"],
)
def test_waiting_past_queue_timeout(tmp_path, caplog, limits, blocker, status):
    async def go():
        async with stack(tmp_path, index=TwoNetworks(), queue_timeout_s=0.05, **limits) as (
            client,
            nova,
            proxy,
            _,
        ):

            async def get(path, headers):
                async with client.get(f"http://x{path}", headers=headers) as r:
                    return r.status, r.headers.get("Retry-After")

            held = asyncio.create_task(get("/hold", blocker))
            await until(lambda: nova.holding == 1)
            assert await get("/", edge_headers()) == (status, "1")
            nova.gate.set()
            assert (await held)[0] == 200
            assert (proxy.fairness.in_flight(), proxy.fairness.queued()) == (0, 0)

    with caplog.at_level(logging.WARNING):
        run(go())
    assert f"{status} for 10.0.0.11 on network {NET}" in caplog.text


def test_slots_are_all_returned(tmp_path):
    """After served, refused-at-once and timed-out requests the ledger is empty again."""

    async def go():
        async with stack(
            tmp_path,
            index=TwoNetworks(),
            in_flight_per_network=1,
            in_flight_per_source=1,
            queued_per_source=2,
            queue_timeout_s=0.05,
        ) as (client, nova, proxy, seen):

            async def get(path, headers):
                async with client.get(f"http://x{path}", headers=headers) as r:
                    return r.status

            hold = asyncio.create_task(get("/hold", edge_headers()))
            await until(lambda: nova.holding == 1)
            statuses = await asyncio.gather(*(get("/", edge_headers()) for _ in range(5)))
            assert statuses == [429] * 5  # 3 at once (queue full), 2 at the deadline
            nova.gate.set()
            assert await hold == 200
            assert await get("/", edge_headers(ip=VICTIM_IP, net=NET_B)) == 200
            assert (proxy.fairness.in_flight(), proxy.fairness.queued()) == (0, 0)
            assert sorted(seen) == [200, 200] + [429] * 5

    run(go())


def test_no_instance_warning_once_per_source_and_interval(tmp_path, caplog):
    async def go():
        async with stack(tmp_path) as (client, _, _, seen):
            for ip in ["10.0.0.99"] * 20 + ["10.0.0.98"] * 3:
                async with client.get("http://x/", headers=edge_headers(ip=ip)) as r:
                    assert r.status == 404
            assert seen == [404] * 23

    with caplog.at_level(logging.WARNING):
        run(go())
    lines = [r.getMessage() for r in caplog.records if "no instance for" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("no instance for 10.0.0.99 on network " + NET)
    assert lines[1].startswith("no instance for 10.0.0.98 on network " + NET)


@pytest.mark.parametrize("granted_first", [False, True], ids=["while-queued", "just-granted"])
def test_a_cancelled_waiter_leaves_the_ledger_clean(tmp_path, granted_first):
    """A handler cancelled while it waits (shutdown) takes no slot with it: it leaves the
    queue or, granted in the same loop step, hands its slot on to the next waiter."""

    async def go():
        async with stack(tmp_path, in_flight_per_network=1, in_flight_per_source=1) as (
            _,
            _,
            proxy,
            _,
        ):
            guest = request.Guest(NET, ipaddress.ip_address(HOSTILE_IP))
            done = asyncio.Event()
            tasks = {}

            async def use_slot(cancel_after=None):
                async with proxy._slot(guest) as refusal:
                    assert refusal is None
                    await done.wait()
                if cancel_after is not None:  # the step of the release, which granted it
                    tasks[cancel_after].cancel()

            holder = asyncio.create_task(use_slot("waiter" if granted_first else None))
            await until(lambda: proxy.fairness.in_flight() == 1)
            tasks["waiter"] = asyncio.create_task(use_slot())
            third = asyncio.create_task(use_slot())
            await until(lambda: proxy.fairness.queued() == 2)
            if not granted_first:
                tasks["waiter"].cancel()
            done.set()
            outcomes = await asyncio.gather(holder, tasks["waiter"], third, return_exceptions=True)
            assert [type(o).__name__ for o in outcomes] == [
                "NoneType",
                "CancelledError",
                "NoneType",
            ]
            assert (proxy.fairness.in_flight(), proxy.fairness.queued()) == (0, 0)
            assert proxy._waiters == {}

    run(go())
