"""Session tokens through the real proxy server and the shared fake Nova (no mocks)."""

import asyncio
import logging

import pytest

from ovnmeta.agent.proxy import tokens
from ovnmeta.core.model import Vif
from ovnmeta.core.signing import TOKEN_STATE_HEADER, TOKEN_STATE_SIGNATURE, sign_token_state
from tests.unit.agent.proxy.test_server import INSTANCE, VM, Index, edge_headers, run, stack

TOKEN_URL = "http://x/latest/api/token"
TTL = {tokens.TTL_HEADER: "21600"}
OTHER = Vif(
    "p2", "lp2", "dp", "fa:16:3e:00:00:12", ("10.0.0.12",), ("ch",), frozenset(),
    "c65cee2f-8c69-4aeb-be2f-f79742548fc2", "proj2",
)  # fmt: skip


async def put_token(client, ip="10.0.0.11", **extra):
    async with client.put(TOKEN_URL, headers={**edge_headers(ip), **TTL, **extra}) as r:
        return r.status, dict(r.headers), await r.text()


async def get(client, token=None, ip="10.0.0.11", path="/latest/meta-data/instance-id"):
    headers = edge_headers(ip)
    if token is not None:
        headers[tokens.TOKEN_HEADER] = token
    async with client.get("http://x" + path, headers=headers) as r:
        return r.status


def test_put_returns_a_token_with_the_ttl_echoed_and_never_reaches_nova(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, seen):
            status, headers, body = await put_token(client)
            assert status == 200
            assert headers[tokens.TTL_HEADER] == "21600"
            assert len(body) == tokens.TOKEN_CHARS
            assert nova.seen == [] and seen == [200]
            assert await get(client, body) == 200
            assert len(nova.seen) == 1
            assert tokens.TOKEN_HEADER not in nova.seen[0][2]  # never passed on

    run(go())


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({tokens.TTL_HEADER: "0"}, 400),
        ({tokens.TTL_HEADER: "21601"}, 400),
        ({tokens.TTL_HEADER: "soon"}, 400),
        ({"X-OVN-Guest-Forwarded": "1"}, 403),
    ],
    ids=["ttl-zero", "ttl-above", "ttl-text", "relayed-by-guest-proxy"],
)
def test_bad_token_puts(tmp_path, extra, status):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            assert (await put_token(client, **extra))[0] == status
            assert nova.seen == []

    run(go())


def test_put_without_ttl_is_400(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            async with client.put(TOKEN_URL, headers=edge_headers()) as r:
                assert r.status == 400
            assert nova.seen == []

    run(go())


def test_get_on_the_token_path_is_405(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            async with client.get(TOKEN_URL, headers=edge_headers()) as r:
                assert r.status == 405 and r.headers["Allow"] == "PUT"
            assert nova.seen == []

    run(go())


def test_ttl_header_on_a_get_is_ignored(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            headers = {**edge_headers(), tokens.TTL_HEADER: "60"}
            async with client.get("http://x/latest/meta-data/", headers=headers) as r:
                assert r.status == 200
            assert tokens.TTL_HEADER not in nova.seen[0][2]

    run(go())


@pytest.mark.parametrize(
    "token", ["garbage", "x" * 60, "A" * 60, "x" * 4000], ids=["short", "bad-mac", "zeros", "long"]
)
def test_invalid_tokens_are_401_and_never_reach_nova(tmp_path, token):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            assert await get(client, token) == 401
            assert nova.seen == []

    run(go())


def test_another_instances_token_is_401(tmp_path):
    async def go():
        async with stack(tmp_path, index=Index(VM, OTHER)) as (client, nova, _):
            _, _, theirs = await put_token(client, ip="10.0.0.12")
            assert await get(client, theirs, ip="10.0.0.12") == 200
            assert await get(client, theirs, ip="10.0.0.11") == 401
            assert len(nova.seen) == 1

    run(go())


def test_token_survives_a_restart_with_the_same_secret(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, _, _):
            _, _, token = await put_token(client)
        async with stack(tmp_path) as (client, _nova, _):  # a new process' worth of state
            assert await get(client, token) == 200
        async with stack(tmp_path, metadata_proxy_shared_secret="rotated") as (client, _, _):
            assert await get(client, token) == 401

    run(go())


@pytest.mark.parametrize(
    "kw",
    [{"imds_tokens": "required"}, {"imds_tokens_required_projects": frozenset({"proj1"})}],
    ids=["chassis-default", "project-list"],
)
def test_required_mode_refuses_tokenless_requests_on_both_trees(tmp_path, kw):
    async def go():
        async with stack(tmp_path, **kw) as (client, nova, _):
            assert await get(client, path="/latest/meta-data/instance-id") == 401
            assert await get(client, path="/openstack/latest/meta_data.json") == 401
            assert await get(client, path="/") == 401
            assert nova.seen == []
            _, _, token = await put_token(client)
            assert await get(client, token, path="/openstack/latest/meta_data.json") == 200
            assert len(nova.seen) == 1

    run(go())


def test_project_list_leaves_other_projects_optional(tmp_path):
    async def go():
        kw = {"imds_tokens_required_projects": frozenset({"proj2"})}
        async with stack(tmp_path, index=Index(VM, OTHER), **kw) as (client, _, _):
            assert await get(client, ip="10.0.0.11") == 200
            assert await get(client, ip="10.0.0.12") == 401

    run(go())


def test_token_state_header_is_signed_for_the_embedded_api_only(tmp_path):
    async def go():
        async with stack(tmp_path) as (client, nova, _):
            await get(client)
            assert TOKEN_STATE_HEADER not in nova.seen[0][2]  # Nova: exactly four headers
        async with stack(tmp_path, imds_token_state=True) as (client, nova, _):
            await get(client)
            _, _, token = await put_token(client)
            await get(client, token)
            states = [(h[TOKEN_STATE_HEADER], h[TOKEN_STATE_SIGNATURE]) for _, _, h, _ in nova.seen]
            assert states == [
                ("absent", sign_token_state("s3cr3t", INSTANCE, "absent")),
                ("valid", sign_token_state("s3cr3t", INSTANCE, "valid")),
            ]

    run(go())


def test_ten_thousand_puts_are_bounded_and_log_little(tmp_path, caplog):
    """10,000 PUTs from one guest, 200 at a time: each answered (200, or 429 once its
    per-source share is full), none reaches Nova, a handful of log lines at most."""

    async def go():
        async with stack(tmp_path, in_flight_per_source=4) as (client, nova, _):
            statuses: dict[int, int] = {}
            tokens_seen = set()
            for batch in range(50):
                extra = {tokens.TTL_HEADER: "nope"} if batch % 2 else {}
                results = await asyncio.gather(*(put_token(client, **extra) for _ in range(200)))
                for status, _, body in results:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        tokens_seen.add(body)
            assert sum(statuses.values()) == 10_000
            assert set(statuses) <= {200, 400, 429} and statuses[400] == 5000
            assert len(tokens_seen) > 1  # the nonce: no two PUTs need share a token
            assert nova.seen == []

    caplog.set_level(logging.INFO, logger="ovnmeta.agent.proxy.server")
    run(go())
    assert len(caplog.records) <= 5  # one per (kind, source) per guest_log_interval
