import gzip

import pytest

from ovnmeta.agent.proxy import forward
from ovnmeta.agent.proxy.lookup import Found

INSTANCE = "b65cee2f-8c69-4aeb-be2f-f79742548fc2"


@pytest.mark.parametrize(
    ("secret", "signature"),
    [
        ("s3cr3t", "823491c9c66985fac0685c45d8eda8869d581ff62c4661479451ee51e2946737"),
        ("", "988ce0432879b2da725247b4a4c1a9ea78966115a19bcd11de5389b1e37c0fed"),
    ],
    ids=["secret", "empty-secret"],
)
def test_exactly_four_signed_headers(secret, signature):
    req = forward.build(
        Found(INSTANCE, "proj", "p1"),
        "10.0.0.11",
        "POST",
        "/openstack/latest/password?x=1",
        b"pw",
        "http://127.0.0.1:8775",
        secret,
    )
    assert req.headers == (
        ("X-Forwarded-For", "10.0.0.11"),
        ("X-Instance-ID", INSTANCE),
        ("X-Tenant-ID", "proj"),
        ("X-Instance-ID-Signature", signature),
    )
    assert req.url == "http://127.0.0.1:8775/openstack/latest/password?x=1"
    assert (req.method, req.body) == ("POST", b"pw")


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 500, 502, 503, 504])
def test_known_statuses_relayed(status):
    r = forward.relay(status, (("Content-Type", "application/json"),), b"{}", 1 << 20)
    assert r.status == status
    assert r.headers == (("Content-Type", "application/json"),)


@pytest.mark.parametrize("status", [201, 301, 402, 418, 501])
def test_unexpected_statuses_become_500(status):
    assert forward.relay(status, (), b"x", 1 << 20).status == 500


def test_hop_headers_dropped_and_gzip_relayed_plain():
    body = gzip.compress(b"#cloud-config\n")
    r = forward.relay(
        200,
        (
            ("Content-Length", "9"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Encoding", "gzip"),
            ("Content-Type", "text/plain"),
        ),
        body,
        1 << 20,
    )
    assert r.body == b"#cloud-config\n"
    assert r.headers == (("Content-Type", "text/plain"),)


def test_gzip_larger_than_limit_passed_through_compressed():
    body = gzip.compress(b"a" * 10000)
    r = forward.relay(200, (("Content-Encoding", "gzip"),), body, 100)
    assert r.body == body
    assert r.headers == (("Content-Encoding", "gzip"),)


def test_empty_200_is_fine():
    assert forward.relay(200, (), b"", 10).body == b""


def test_hints_for_403_and_500():
    assert "metadata_proxy_shared_secret" in forward.hint_for(403)
    assert forward.hint_for(500)
    assert forward.hint_for(200) is None
