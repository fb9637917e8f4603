"""The backend probe of `ovnmeta healthcheck` on the agent socket: real sockets, fake Nova."""

import logging

import pytest

from ovnmeta.agent.proxy import probe

from .test_server import edge_headers, run, stack

PROBE = {probe.HEADER: probe.VALUE}


def test_probe_calls_the_backend_root_without_signed_headers(tmp_path, caplog):
    async def go():
        async with stack(tmp_path) as (client, nova, seen):
            async with client.get("http://x/anything", headers=PROBE) as r:
                assert r.status == 200
                line = (await r.read()).decode()
            assert line == f"metadata backend http://127.0.0.1:{nova.port} answered 200"
            method, path, h, _ = nova.seen[0]
            assert (method, path) == ("GET", "/")
            assert "X-Instance-ID-Signature" not in h and "X-Instance-ID" not in h
            assert seen == []  # not counted as a guest request

    caplog.set_level(logging.DEBUG)
    run(go())
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage().split(" on ")[0] for r in loud] == ["metadata proxy listening"]
    assert "health probe: metadata backend" in caplog.text  # at DEBUG


def test_probe_with_backend_down_is_503_and_quiet(tmp_path, caplog):
    async def go():
        async with stack(tmp_path, nova_up=False) as (client, nova, _):
            async with client.get("http://x/", headers=PROBE) as r:
                assert r.status == 503
                line = (await r.read()).decode()
            assert line.startswith(f"metadata backend http://127.0.0.1:{nova.port} unreachable: ")

    run(go())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_probe_header_from_the_edge_is_an_ordinary_request(tmp_path):
    """The edge always sets X-OVN-Network-ID: with it, the probe header means nothing."""

    async def go():
        async with stack(tmp_path) as (client, nova, seen):
            async with client.get("http://x/latest", headers={**PROBE, **edge_headers()}) as r:
                assert r.status == 200
            assert nova.seen[0][1] == "/latest"
            assert "X-Instance-ID-Signature" in nova.seen[0][2]
            assert seen == [200]

    run(go())


def test_openstack_helm_probe_gets_a_quiet_404(tmp_path, caplog):
    headers = {
        "X-Forwarded-For": "169.254.169.254",
        "X-Neutron-Router-ID": "pod-health-probe-check-ignore-errors",
    }

    async def go():
        async with stack(tmp_path) as (client, nova, _):
            async with client.get("http://169.254.169.254/", headers=headers) as r:
                assert r.status == 404
            assert nova.seen == []

    run(go())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("probe_values", "network_values", "expected"),
    [
        (["backend"], [], True),
        (["Backend "], [], True),
        ([], [], False),
        (["other"], [], False),
        (["backend", "backend"], [], False),
        (["backend"], ["net"], False),
    ],
    ids=["probe", "case-and-space", "no-header", "other-value", "twice", "from-the-edge"],
)
def test_is_probe(probe_values, network_values, expected):
    assert probe.is_probe(probe_values, network_values) is expected


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (200, None, (200, "metadata backend http://n:8775 answered 200")),
        (404, None, (200, "metadata backend http://n:8775 answered 404")),
        (503, None, (503, "metadata backend http://n:8775 answered 503")),
        (None, "refused", (503, "metadata backend http://n:8775 unreachable: refused")),
    ],
    ids=["200", "404-is-fine", "5xx", "unreachable"],
)
def test_answer(status, error, expected):
    r = probe.answer("http://n:8775", status, error)
    assert (r.status, r.body.decode()) == expected
