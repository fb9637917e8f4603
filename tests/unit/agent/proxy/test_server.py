"""The proxy server against a fake Nova on 127.0.0.1: real sockets, no mocks."""

import asyncio
import contextlib
import dataclasses
import logging
import time

import aiohttp
import pytest

from ovnmeta.agent import config
from ovnmeta.agent.proxy.server import ProxyServer
from ovnmeta.core.model import Vif
from ovnmeta.core.signing import sign_instance_id
from tests.support.fake_http import FakeHttp

NET = "f3dc8112-273e-4653-af3c-6069330ad350"
INSTANCE = "b65cee2f-8c69-4aeb-be2f-f79742548fc2"


class Index:
    def __init__(self, *ports):
        self.ports = list(ports)

    def ports_by_ip(self, network, ip):
        return tuple(p for p in self.ports if network == NET and ip in p.ips)

    def ports_by_mac(self, network, mac):
        return tuple(p for p in self.ports if network == NET and p.mac == mac)


VM = Vif(
    "p1", "lp1", "dp", "fa:16:3e:00:00:11", ("10.0.0.11",), ("ch",), frozenset(), INSTANCE, "proj1"
)


def settings(tmp_path, nova_port, **kw):
    conf = config.new_conf()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    conf.set_override("state_path", str(tmp_path))
    conf.set_override("nova_metadata_port", nova_port)
    conf.set_override("metadata_proxy_shared_secret", "s3cr3t")
    s = config.from_conf(conf).proxy
    return dataclasses.replace(s, **kw)


@contextlib.asynccontextmanager
async def stack(tmp_path, index=None, nova_up=True, **kw):
    nova = FakeHttp().start()
    port = nova.port
    if not nova_up:
        nova.stop()
    seen = []
    proxy = ProxyServer(
        settings(tmp_path, port, **kw), index or Index(VM), lambda status, secs: seen.append(status)
    )
    await proxy.start()
    conn = aiohttp.UnixConnector(path=str(tmp_path / "metadata_proxy"))
    async with aiohttp.ClientSession(connector=conn) as client:
        try:
            yield client, nova, seen
        finally:
            await proxy.stop()
            if nova_up:
                nova.stop()


def edge_headers(ip="10.0.0.11", net=NET):
    return {"X-OVN-Network-ID": net, "X-Forwarded-For": ip}


def run(coro):
    return asyncio.run(coro)


def test_get_is_forwarded_with_four_signed_headers(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, seen):
            headers = {**edge_headers(), "User-Agent": "guest", "X-Auth-Token": "t"}
            async with client.get(
                "http://x/openstack/latest/meta_data.json?a=1", headers=headers
            ) as r:
                assert r.status == 200
                assert await r.json() == {"uuid": INSTANCE}
            method, path, h, _ = nova.seen[0]
            assert (method, path) == ("GET", "/openstack/latest/meta_data.json?a=1")
            assert h["X-Instance-ID"] == INSTANCE
            assert h["X-Tenant-ID"] == "proj1"
            assert h["X-Forwarded-For"] == "10.0.0.11"
            assert h["X-Instance-ID-Signature"] == sign_instance_id("s3cr3t", INSTANCE)
            assert "X-Auth-Token" not in h and h.get("User-Agent") != "guest"
            assert "X-OVN-Network-ID" not in h
            assert seen == [200]

    run(go())


def test_password_post_body_passes_through(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            pw = b"p" * 1020
            async with client.post(
                "http://x/openstack/2013-04-04/password", data=pw, headers=edge_headers()
            ) as r:
                assert r.status == 200
            assert nova.seen[0][0] == "POST" and nova.seen[0][3] == pw

    run(go())


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (edge_headers(ip="10.0.0.99"), 404),
        ({"X-Forwarded-For": "10.0.0.11"}, 404),
        ({**edge_headers(), "X-Neutron-Router-ID": "r"}, 400),
    ],
    ids=["unknown-ip", "no-network", "router-and-network"],
)
def test_refusals_never_reach_nova(tmp_path, headers, status):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            async with client.get("http://x/latest/meta-data/", headers=headers) as r:
                assert r.status == status
                assert r.headers["Content-Type"] == "text/plain; charset=UTF-8"
            assert nova.seen == []

    run(go())


def test_forged_duplicate_network_header_gives_404(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            headers = [("X-OVN-Network-ID", "other"), *edge_headers().items()]
            async with client.get("http://x/", headers=headers) as r:
                assert r.status == 404
            assert nova.seen == []

    run(go())


def test_ipv6_link_local_matches_by_mac(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            ip = "fe80::f816:3eff:fe00:11"
            async with client.get("http://x/", headers=edge_headers(ip=ip)) as r:
                assert r.status == 200
            assert nova.seen[0][2]["X-Forwarded-For"] == ip

    run(go())


def test_ambiguous_match_404_with_sync_util_hint(tmp_path, caplog):
    async def go():
        twin = dataclasses.replace(VM, uuid="p2")
        async with stack(tmp_path, index=Index(VM, twin)) as (client, nova, _):
            async with client.get("http://x/", headers=edge_headers()) as r:
                assert r.status == 404
            assert nova.seen == []

    with caplog.at_level(logging.ERROR):
        run(go())
    assert "neutron-ovn-db-sync-util" in caplog.text and "p1, p2" in caplog.text


def test_nova_down_gives_503(tmp_path):
    async def go():
        async with stack(tmp_path, nova_up=False) as (client, _, seen):
            async with client.get("http://x/", headers=edge_headers()) as r:
                assert r.status == 503
                assert b"temporarily unavailable" in await r.read()
            assert seen == [503]

    run(go())


def test_nova_403_relayed_with_secret_hint(tmp_path, caplog):
    async def go():
        async with (
            stack(tmp_path) as (client, _, _),
            client.get("http://x/status/403", headers=edge_headers()) as r,
        ):
            assert r.status == 403

    with caplog.at_level(logging.WARNING):
        run(go())
    assert "metadata_proxy_shared_secret" in caplog.text


def test_unexpected_nova_code_becomes_500(tmp_path):
    async def go():
        async with (
            stack(tmp_path) as (client, _, _),
            client.get("http://x/status/418", headers=edge_headers()) as r,
        ):
            assert r.status == 500

    run(go())


def test_gzip_and_empty_bodies(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, _, _):
            async with client.get("http://x/gzip", headers=edge_headers()) as r:
                assert r.status == 200 and await r.read() == b"#cloud-config\n"
                assert "Content-Encoding" not in r.headers
            async with client.get("http://x/empty", headers=edge_headers()) as r:
                assert r.status == 200 and await r.read() == b""
                assert r.headers["Content-Length"] == "0"

    run(go())


def test_requests_are_served_concurrently(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, _, _):

            async def one():
                async with client.get("http://x/slow", headers=edge_headers()) as r:
                    return r.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(one() for _ in range(10)))
            assert statuses == [200] * 10
            assert time.monotonic() - started < 1.5  # serial would be 3 s

    run(go())


def test_nova_timeout_gives_504(tmp_path):
    async def go():
        async with (
            stack(tmp_path, nova_request_timeout_s=0.1) as (client, _, _),
            client.get("http://x/slow", headers=edge_headers()) as r,
        ):
            assert r.status == 504

    run(go())


def test_oversized_body_refused(tmp_path):
    async def go():
        async with stack(tmp_path, max_request_body=2048) as (client, nova, _):
            async with client.post("http://x/", data=b"x" * 4096, headers=edge_headers()) as r:
                assert r.status == 413
            assert nova.seen == []

    run(go())


def test_socket_mode_honoured(tmp_path):
    async def go():
        async with stack(tmp_path, metadata_proxy_socket_mode=0o660):
            import os
            import stat

            mode = stat.S_IMODE(os.stat(tmp_path / "metadata_proxy").st_mode)
            assert mode == 0o660

    run(go())


def test_nova_restart_costs_no_request(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            async with client.get("http://x/", headers=edge_headers()) as r:
                assert r.status == 200  # leaves a kept-alive connection in the pool
            port = nova.port
            nova.stop()
            nova.start(port)
            async with client.get("http://x/", headers=edge_headers()) as r:
                assert r.status == 200

    run(go())


def test_unparsable_requests_log_one_line_per_interval_without_traceback(tmp_path, caplog):
    """Header lines over aiohttp's limit get 400; a guest sending them must not write the log."""

    async def go():
        async with stack(tmp_path) as (_client, nova, _seen):
            for _ in range(50):
                reader, writer = await asyncio.open_unix_connection(
                    str(tmp_path / "metadata_proxy")
                )
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")
                await writer.drain()
                assert (await reader.readline()).split()[1] == b"400"
                writer.close()
            assert nova.seen == []

    with caplog.at_level(logging.DEBUG):
        run(go())
    parser = [r for r in caplog.records if r.name.endswith(".parser")]
    assert len(parser) == 1 and parser[0].levelno == logging.WARNING
    assert parser[0].exc_info is None and "could not read" in parser[0].getMessage()
