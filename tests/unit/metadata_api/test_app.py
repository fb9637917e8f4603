"""HTTP contract tests through a real aiohttp server on loopback."""

import base64
import json

import pytest

from ovnmeta.metadata_api import settings, store

from .conftest import PROJECT, PUBKEY, SECRET, SIGNATURE, UUID, build_record
from .httpserver import ServerThread

OTHER = "0b7c2f0e-5a51-4c1e-9d1c-3f4b8a0e9f11"
GOOD = {"X-Instance-ID": UUID, "X-Tenant-ID": PROJECT, "X-Instance-ID-Signature": SIGNATURE}
TEXT = "text/plain; charset=UTF-8"
CONFIG = settings.ApiSettings(
    metadata_listen="127.0.0.1", metadata_listen_port=0, metadata_proxy_shared_secret=SECRET
)


@pytest.fixture
def instances(tmp_path):
    with store.InstanceStore(tmp_path / "instances.sqlite3") as s:
        s.add(build_record())
        yield s


@pytest.fixture
def server(instances):
    with ServerThread(CONFIG, instances) as srv:
        yield srv


def without(name):
    return {k: v for k, v in GOOD.items() if k != name}


def test_root_needs_no_headers(server):
    reply = server.request("GET", "/")
    assert (reply.status, reply.content_type) == (200, TEXT)
    assert reply.body.split(b"\n")[-2:] == [b"2009-04-04", b"latest"]


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param({}, 400, b"X-Instance-ID header is missing", id="none"),
        pytest.param(without("X-Instance-ID"), 400, b"X-Instance-ID header", id="no-id"),
        pytest.param(
            without("X-Instance-ID-Signature"), 400, b"X-Instance-ID-Signature header", id="no-sig"
        ),
        pytest.param(without("X-Tenant-ID"), 400, b"X-Tenant-ID header", id="no-tenant"),
        pytest.param(
            {**GOOD, "X-Instance-ID-Signature": SIGNATURE.upper()}, 403, b"Invalid proxy", id="sig"
        ),
        pytest.param({**GOOD, "X-Tenant-ID": "mallory"}, 404, b"could not be found", id="tenant"),
        pytest.param(
            {**GOOD, "X-Instance-ID": OTHER, "X-Instance-ID-Signature": ""}, 403, b"", id="other"
        ),
    ],
)
def test_every_status_of_the_header_chain(server, headers, status, message):
    reply = server.request("GET", "/openstack", headers)
    assert reply.status == status
    assert reply.content_type == TEXT
    assert message in reply.body


def test_unknown_instance_with_valid_signature_is_404(server):
    from ovnmeta.core.signing import sign_instance_id

    headers = {
        **GOOD,
        "X-Instance-ID": OTHER,
        "X-Instance-ID-Signature": sign_instance_id(SECRET, OTHER),
    }
    reply = server.request("GET", "/openstack/latest/meta_data.json", headers)
    assert reply.status == 404
    assert reply.body == b"404 Not Found\n\nThe resource could not be found.\n\n   "


def test_header_checks_come_before_path_checks(server):
    assert server.request("GET", "/no/such/path").status == 400
    assert server.request("GET", "/no/such/path", GOOD).status == 404


def test_openstack_probe_and_documents(server):
    listing = server.request("GET", "/openstack", GOOD)
    assert listing.status == 200 and b"2018-08-27" in listing.body
    meta = server.request("GET", "/openstack/latest/meta_data.json", GOOD)
    assert (meta.status, meta.content_type) == (200, "application/json")
    doc = json.loads(meta.body)
    assert doc["uuid"] == UUID and doc["public_keys"] == {"lab-key": PUBKEY}
    assert len(base64.b64decode(doc["random_seed"], validate=True)) == 512
    again = json.loads(server.request("GET", "/openstack/latest/meta_data.json", GOOD).body)
    assert again["random_seed"] != doc["random_seed"]  # fresh on every request
    network = server.request("GET", "/openstack/2018-08-27/network_data.json", GOOD)
    assert network.content_type == TEXT
    assert json.loads(network.body)["links"][0]["ethernet_mac_address"] == "fa:16:3e:11:22:33"
    vendor = server.request("GET", "/openstack/latest/vendor_data2.json", GOOD)
    assert (vendor.content_type, vendor.body) == ("application/json", b'{"static": {}}')


def test_ec2_tree_and_trailing_slash(server):
    assert (
        server.request("GET", "/latest/meta-data/", GOOD).body
        == server.request("GET", "/latest/meta-data", GOOD).body
    )
    assert server.request("GET", "/latest/meta-data/public-keys/", GOOD).body == b"0=lab-key"
    key = server.request("GET", "/latest/meta-data/public-keys/0/openssh-key", GOOD)
    assert (key.status, key.content_type, key.body) == (200, TEXT, PUBKEY.encode())
    assert server.request("GET", "/2009-04-04/user-data", GOOD).body.startswith(b"#cloud-config")
    assert server.request("GET", "/2016-09-02/meta-data/instance-id", GOOD).status == 404


def test_binary_user_data_is_served_byte_for_byte(instances, server):
    data = bytes(range(256)) * 100
    instances.update(UUID, user_data=data)
    fresh = ServerThread(CONFIG, instances)  # the running server may have it cached
    with fresh:
        assert fresh.request("GET", "/openstack/latest/user_data", GOOD).body == data
        assert fresh.request("GET", "/latest/user-data", GOOD).body == data


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_any_method_reads_documents_as_nova_does(server, method, instances):
    reply = server.request(method, "/openstack/latest/meta_data.json", GOOD, body=b"ignored")
    assert reply.status == 200 and json.loads(reply.body)["uuid"] == UUID
    assert instances.get(UUID) == build_record()  # read-only: nothing changed


@pytest.mark.parametrize("method", ["FOO", "BREW"])
def test_unknown_methods_are_refused_by_the_http_parser(server, method):
    assert server.request(method, "/openstack/latest/meta_data.json", GOOD).status == 400


def test_head_gives_headers_only(server):
    reply = server.request("HEAD", "/openstack/latest/meta_data.json", GOOD)
    assert (reply.status, reply.content_type, reply.body) == (200, "application/json", b"")


@pytest.mark.parametrize(
    "path",
    [
        "/openstack/latest/../../../../etc/passwd",
        "/openstack/latest/%2e%2e/%2e%2e/etc/passwd",
        "/latest/meta-data/hostname/x",
        "/latest/meta-data/%00",
        "/openstack/latest/meta_data.json/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/" + "a/" * 600,
        "/latest/meta-data/" + "x" * 2000,
    ],
)
def test_traversal_and_long_paths_are_404(server, path):
    reply = server.request("GET", path, GOOD)
    assert reply.status == 404
    assert reply.content_type == TEXT


def test_traversal_inside_the_tree_is_collapsed(server):
    reply = server.request("GET", "/openstack/latest/../../latest/meta-data/instance-id", GOOD)
    assert (reply.status, reply.body) == (200, b"i-b65cee2f")


def test_request_line_beyond_the_parser_limit_is_400(server):
    assert server.request("GET", "/" + "a" * 9000, GOOD).status in (400, 414)


def test_password_set_once_then_409(server):
    path = "/openstack/latest/password"
    empty = server.request("GET", path, GOOD)
    assert (empty.status, empty.content_type, empty.body) == (200, "text/html; charset=UTF-8", b"")
    assert server.request("POST", path, GOOD, body=b"encrypted-pw").status == 200
    assert server.request("GET", path, GOOD).body == b"encrypted-pw"
    second = server.request("POST", path, GOOD, body=b"other")
    assert second.status == 409
    assert server.request("GET", path + "/", GOOD).body == b"encrypted-pw"


def test_password_size_limit(server, instances):
    path = "/openstack/2013-04-04/password"
    too_large = server.request("POST", path, GOOD, body=b"x" * 1021)
    assert (too_large.status, too_large.body) == (
        400,
        b"400 Bad Request\n\nRequest is too large.\n\n   ",
    )
    assert instances.get_password(UUID) == ""
    assert server.request("POST", path, GOOD, body=b"x" * 1020).status == 200
    assert instances.get_password(UUID) == "x" * 1020


def test_chunked_password_body_is_bounded_too(server, instances):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "POST",
        "/openstack/latest/password",
        body=iter([b"x" * 1000, b"y" * 1000]),
        headers={**GOOD, "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 400
    conn.close()
    assert instances.get_password(UUID) == ""


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "PATCH"])
def test_password_accepts_only_get_and_post(server, instances, method):
    reply = server.request(method, "/openstack/latest/password", GOOD, body=b"pw")
    assert reply.status == 400
    if method != "HEAD":
        assert b"GET and POST only are supported." in reply.body
    assert instances.get_password(UUID) == ""


def test_password_non_utf8_is_400_and_not_stored(server, instances):
    reply = server.request("POST", "/openstack/latest/password", GOOD, body=b"\xff\xfe")
    assert reply.status == 400
    assert instances.get_password(UUID) == ""


def test_password_not_in_folsom(server):
    assert server.request("GET", "/openstack/2012-08-10/password", GOOD).status == 404


def test_password_for_removed_instance_is_400(instances, tmp_path):
    config = settings.ApiSettings(metadata_listen_port=0, metadata_proxy_shared_secret=SECRET)
    with ServerThread(config, instances) as srv:
        assert srv.request("GET", "/openstack/latest/meta_data.json", GOOD).status == 200
        instances.remove(UUID)  # still cached for 15 s, as in Nova
        assert srv.request("POST", "/openstack/latest/password", GOOD, body=b"pw").status == 400


def test_cache_serves_until_expiry(instances):
    now = [1000.0]
    config = settings.ApiSettings(metadata_listen_port=0, metadata_proxy_shared_secret=SECRET)
    with ServerThread(config, instances, clock=lambda: now[0]) as srv:
        path = "/latest/meta-data/hostname"
        assert srv.request("GET", path, GOOD).body == b"vm1.novalocal"
        instances.update(UUID, hostname="renamed")
        assert srv.request("GET", path, GOOD).body == b"vm1.novalocal"
        now[0] += 15.0
        assert srv.request("GET", path, GOOD).body == b"renamed.novalocal"


def test_cache_disabled_and_tenant_checked_on_every_request(instances):
    config = settings.ApiSettings(
        metadata_listen_port=0, metadata_proxy_shared_secret=SECRET, metadata_cache_expiration=0
    )
    with ServerThread(config, instances) as srv:
        assert srv.request("GET", "/openstack", GOOD).status == 200
        assert srv.request("GET", "/openstack", {**GOOD, "X-Tenant-ID": "x"}).status == 404
        instances.update(UUID, name="now")
        doc = json.loads(srv.request("GET", "/openstack/latest/meta_data.json", GOOD).body)
        assert doc["name"] == "now"


def test_broken_store_gives_500_with_novas_message_logged_once(instances, caplog):
    with ServerThread(CONFIG, instances) as srv:
        instances.close()  # every query now fails inside sqlite3
        with caplog.at_level("INFO", logger="ovnmeta.metadata_api.app"):
            replies = [srv.request("GET", "/openstack", GOOD) for _ in range(3)]
    assert {r.status for r in replies} == {500}
    assert b"An unknown error has occurred. Please try your request again." in replies[0].body
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1


def test_empty_secret_and_local_ipv4_fallback(instances):
    instances.update(UUID, vifs=())
    config = settings.ApiSettings(metadata_listen_port=0, metadata_proxy_shared_secret="")
    empty_sig = "988ce0432879b2da725247b4a4c1a9ea78966115a19bcd11de5389b1e37c0fed"
    headers = {**GOOD, "X-Instance-ID-Signature": empty_sig, "X-Forwarded-For": "10.0.0.99"}
    with ServerThread(config, instances) as srv:
        reply = srv.request("GET", "/latest/meta-data/local-ipv4", headers)
    assert (reply.status, reply.body) == (200, b"10.0.0.99")


def test_vendor_data_from_settings(instances):
    config = settings.ApiSettings(
        metadata_listen_port=0,
        metadata_proxy_shared_secret=SECRET,
        vendor_data='{"cloud-init": "#cloud-config\\n"}',
    )
    with ServerThread(config, instances) as srv:
        reply = srv.request("GET", "/openstack/latest/vendor_data.json", GOOD)
    assert json.loads(reply.body) == {"cloud-init": "#cloud-config\n"}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("/%zz", 404),
        ("/%ff%fe/meta-data", 404),
        ("/latest/meta-data/%2e%2e/%2e%2e/%2e%2e/", 200),  # collapses to the root listing
        ("/latest/meta-data/instance-id?x=../../etc", 200),  # the query is not the path
        ("http://evil.example/latest/meta-data/instance-id", 200),  # absolute-form target
        ("/latest/meta-data/;rm%20-rf", 404),
        ("/latest/meta-data/;rm -rf", 400),  # a raw space: the HTTP parser refuses it
    ],
)
def test_odd_request_targets(server, raw, status):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in GOOD.items())
        sock.sendall(f"GET {raw} HTTP/1.1\r\nHost: x\r\n{head}Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.split(b" ", 2)[1] == str(status).encode(), reply[:200]


def test_oversized_header_is_400(server):
    reply = server.request("GET", "/openstack", {**GOOD, "X-Tenant-ID": "t" * 20000})
    assert reply.status == 400


def test_slow_password_body_times_out_without_storing(instances):
    import socket

    config = settings.ApiSettings(
        metadata_listen_port=0, metadata_proxy_shared_secret=SECRET, request_body_timeout_s=0.3
    )
    with (
        ServerThread(config, instances) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        head = "".join(f"{k}: {v}\r\n" for k, v in GOOD.items())
        sock.sendall(
            f"POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\n{head}"
            "Content-Length: 100\r\n\r\nonly-part".encode()
        )
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"not received in time" in reply
    assert instances.get_password(UUID) == ""


def test_repeated_rejections_warn_once_and_never_leak_the_secret(server, caplog):
    bad = {**GOOD, "X-Instance-ID-Signature": "0" * 64}
    with caplog.at_level("DEBUG", logger="ovnmeta.metadata_api.app"):
        for _ in range(5):
            assert server.request("GET", "/openstack", bad).status == 403
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "does not match" in warnings[0].getMessage()
    assert SIGNATURE not in caplog.text and SECRET not in caplog.text
