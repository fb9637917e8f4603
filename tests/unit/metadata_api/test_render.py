import base64
import json

import pytest

from ovnmeta.metadata_api import model, paths, render

from .conftest import PROJECT, PUBKEY, UUID, build_record

CTX = render.Context(random_seed=bytes(512), today="2026-11-24")
TEXT = "text/plain; charset=UTF-8"


def get(raw, record=None, ctx=CTX):
    route = paths.route(raw)
    assert isinstance(route, paths.Document), route
    return render.render(route.tokens, record or build_record(), ctx)


def body(raw, record=None, ctx=CTX):
    reply = get(raw, record, ctx)
    assert reply.status == 200, (raw, reply)
    return reply.body.decode()


def test_root_listing_is_the_ec2_versions():
    reply = render.root_listing()
    assert reply == render.Reply(
        200,
        TEXT,
        b"1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n"
        b"2008-09-01\n2009-04-04\nlatest",
    )
    assert get("/ec2") == reply


def test_openstack_version_listing_has_fixed_order_and_latest():
    assert body("/openstack") == (
        "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n"
        "2017-02-22\n2018-08-27\n2020-10-14\n2025-04-04\nlatest"
    )


def test_future_versions_are_not_listed_but_still_served():
    ctx = render.Context(random_seed=b"", today="2019-01-01")
    assert body("/openstack", ctx=ctx).splitlines()[-3:] == ["2017-02-22", "2018-08-27", "latest"]
    assert get("/openstack/2025-04-04/meta_data.json", ctx=ctx).status == 200


LISTINGS = {
    "2012-08-10": "meta_data.json\nuser_data",
    "2013-04-04": "meta_data.json\nuser_data\npassword",
    "2013-10-17": "meta_data.json\nuser_data\npassword\nvendor_data.json",
    "2015-10-15": "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json",
    "2016-06-30": "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json",
}
FULL = "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"


@pytest.mark.parametrize("version", [*paths.OPENSTACK_VERSIONS, "latest"])
def test_every_openstack_version_listing(version):
    expected = LISTINGS.get(version, FULL)
    assert body(f"/openstack/{version}") == expected
    assert body(f"/openstack/{version}/") == expected
    no_user_data = build_record(user_data=None)
    assert body(f"/openstack/{version}", no_user_data) == expected.replace("\nuser_data", "")
    for name in expected.split("\n"):
        if name != "password":  # served by the shell, see test_app
            assert get(f"/openstack/{version}/{name}").status == 200


def test_meta_data_json_latest_key_order_and_values():
    reply = get("/openstack/latest/meta_data.json")
    assert reply.content_type == "application/json"
    doc = json.loads(reply.body)
    assert list(doc) == [
        "uuid", "meta", "public_keys", "keys", "hostname", "name", "launch_index",
        "availability_zone", "random_seed", "project_id", "devices", "dedicated_cpus",
    ]  # fmt: skip
    assert doc["uuid"] == UUID
    assert doc["meta"] == {"role": "web"}
    assert doc["public_keys"] == {"lab-key": PUBKEY}
    assert doc["keys"] == [{"name": "lab-key", "type": "ssh", "data": PUBKEY}]
    assert doc["hostname"] == "vm1.novalocal"
    assert doc["project_id"] == PROJECT
    assert base64.b64decode(doc["random_seed"], validate=True) == bytes(512)
    assert doc["devices"] == [] and doc["dedicated_cpus"] == []


def test_meta_data_json_folsom_has_sorted_keys_and_no_seed():
    doc = json.loads(get("/openstack/2012-08-10/meta_data.json").body)
    assert list(doc) == [
        "availability_zone", "hostname", "keys", "launch_index", "meta", "name",
        "public_keys", "uuid",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("version", "has"),
    [
        ("2013-04-04", {"random_seed"}),
        ("2015-10-15", {"random_seed", "project_id"}),
        ("2016-06-30", {"random_seed", "project_id", "devices"}),
        ("2020-10-14", {"random_seed", "project_id", "devices", "dedicated_cpus"}),
    ],
)
def test_meta_data_fields_appear_with_their_version(version, has):
    doc = json.loads(get(f"/openstack/{version}/meta_data.json").body)
    assert {"random_seed", "project_id", "devices", "dedicated_cpus"} & set(doc) == has


def test_meta_data_without_keys_or_metadata_omits_them():
    doc = json.loads(
        get("/openstack/latest/meta_data.json", build_record(key_pairs=(), metadata=())).body
    )
    assert "public_keys" not in doc and "keys" not in doc and "meta" not in doc


def test_empty_dhcp_domain_gives_the_bare_hostname():
    ctx = render.Context(dhcp_domain="", random_seed=b"")
    assert json.loads(get("/openstack/latest/meta_data.json", ctx=ctx).body)["hostname"] == "vm1"
    assert body("/latest/meta-data/hostname", ctx=ctx) == "vm1"


def test_user_data_is_raw_bytes_or_404():
    data = b"\x1f\x8b\x08\x00" + bytes(range(256))
    reply = get("/openstack/latest/user_data", build_record(user_data=data))
    assert reply == render.Reply(200, TEXT, data)
    assert get("/openstack/latest/user_data", build_record(user_data=None)).status == 404
    assert get("/latest/user-data", build_record(user_data=data)).body == data
    assert get("/latest/user-data", build_record(user_data=None)).status == 404


def test_vendor_data_defaults_global_and_per_instance():
    assert get("/openstack/latest/vendor_data.json").body == b"{}"
    assert get("/openstack/latest/vendor_data2.json").body == b'{"static": {}}'
    ctx = render.Context(vendor_data='{"cloud-init": "#cloud-config\\n"}', random_seed=b"")
    assert json.loads(get("/openstack/latest/vendor_data2.json", ctx=ctx).body) == {
        "static": {"cloud-init": "#cloud-config\n"}
    }
    own = build_record(vendor_data='["x"]')
    assert get("/openstack/latest/vendor_data.json", own, ctx).body == b'["x"]'
    assert get("/openstack/latest/vendor_data.json").content_type == "application/json"


def test_network_data_json():
    reply = get("/openstack/latest/network_data.json")
    assert reply.content_type == TEXT  # sic, as Nova
    assert json.loads(reply.body) == {
        "links": [
            {
                "id": "tapa1b2c3d4-e5",
                "vif_id": "a1b2c3d4-e5f6-4711-8899-aabbccddeeff",
                "type": "ovs",
                "mtu": 1442,
                "ethernet_mac_address": "fa:16:3e:11:22:33",
            }
        ],
        "networks": [
            {
                "id": "network0",
                "type": "ipv4",
                "link": "tapa1b2c3d4-e5",
                "ip_address": "10.0.0.11",
                "netmask": "255.255.255.0",
                "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}],
                "network_id": "0f0e0d0c-0b0a-0908-0706-050403020100",
                "services": [{"type": "dns", "address": "10.0.0.2"}],
            }
        ],
        "services": [{"type": "dns", "address": "10.0.0.2"}],
    }


def test_network_data_dhcp_ipv6_routes_and_empty():
    vif = model.Vif(
        mac="fa:16:3e:00:00:02",
        fixed_ips=(
            model.FixedIp("10.1.0.5", 16, mode="dhcp"),
            model.FixedIp(
                "fd00::5",
                64,
                gateway="fd00::1",
                mode="dhcpv6-stateful",
                routes=(model.Route("fd01::/48", "fd00::2"),),
                dns=("fd00::53",),
            ),
        ),
    )
    doc = json.loads(get("/openstack/latest/network_data.json", build_record(vifs=(vif,))).body)
    assert doc["links"][0]["id"] == "interface0" and doc["links"][0]["mtu"] is None
    assert doc["networks"][0] == {
        "id": "network0", "type": "ipv4_dhcp", "link": "interface0", "network_id": "",
    }  # fmt: skip
    v6 = doc["networks"][1]
    assert v6["type"] == "ipv6_dhcpv6-stateful"
    assert v6["netmask"] == "ffff:ffff:ffff:ffff::"
    assert v6["routes"] == [
        {"network": "::", "netmask": "::", "gateway": "fd00::1"},
        {"network": "fd01::", "netmask": "ffff:ffff:ffff::", "gateway": "fd00::2"},
    ]
    assert get("/openstack/latest/network_data.json", build_record(vifs=())).body == b"{}"


EC2_LATEST = (
    "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nhostname\n"
    "instance-action\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\n"
    "public-hostname\npublic-ipv4\npublic-keys/\nreservation-id\nsecurity-groups"
)


@pytest.mark.parametrize("prefix", ["/latest", "/2009-04-04", "/ec2/latest", "/ec2/2009-04-04"])
def test_ec2_meta_data_listing(prefix):
    assert body(f"{prefix}/meta-data") == EC2_LATEST
    assert body(f"{prefix}/meta-data/") == EC2_LATEST
    assert body(prefix) == "meta-data/\nuser-data"
    assert body(prefix, build_record(user_data=None)) == "meta-data/"


def test_ec2_1_0_listing():
    assert body("/1.0/meta-data") == (
        "ami-id\nami-launch-index\nami-manifest-path\nhostname\ninstance-id\nlocal-ipv4\n"
        "public-keys/\nreservation-id\nsecurity-groups"
    )


@pytest.mark.parametrize("version", paths.EC2_VERSIONS)
def test_every_ec2_version_serves_instance_id(version):
    assert body(f"/{version}/meta-data/instance-id") == "i-b65cee2f"


def test_ec2_public_keys_form_cloud_init_crawls():
    assert body("/latest/meta-data/public-keys") == "0=lab-key"
    assert body("/latest/meta-data/public-keys/") == "0=lab-key"
    assert body("/latest/meta-data/public-keys/0") == "openssh-key"
    assert body("/latest/meta-data/public-keys/0/openssh-key") == PUBKEY
    assert get("/latest/meta-data/public-keys/0=lab-key").status == 404
    no_keys = build_record(key_pairs=())
    assert "public-keys/" not in body("/latest/meta-data", no_keys)
    assert get("/latest/meta-data/public-keys", no_keys).status == 404


def test_ec2_values():
    two_groups = build_record(security_groups=("default", "web"))
    assert body("/latest/meta-data/security-groups", two_groups) == "default\nweb"
    assert body("/latest/meta-data/local-ipv4") == "10.0.0.11"
    assert body("/latest/meta-data/public-ipv4") == ""
    assert body("/latest/meta-data/hostname") == "vm1.novalocal"
    assert body("/latest/meta-data/local-hostname") == "vm1.novalocal"
    assert body("/latest/meta-data/ami-manifest-path") == "FIXME"
    assert body("/latest/meta-data/instance-action") == "none"
    assert body("/latest/meta-data/instance-type") == "m1.small"
    assert body("/latest/meta-data/placement") == "availability-zone"
    assert body("/latest/meta-data/placement/availability-zone") == "nova"
    assert body("/latest/meta-data/block-device-mapping") == "ami\nroot"
    assert body("/latest/meta-data/block-device-mapping/root") == "/dev/vda"
    assert body("/latest/meta-data/reservation-id") == "r-8c694aeb"


def test_local_ipv4_falls_back_to_the_request_address_and_floating_ip_is_public():
    ctx = render.Context(random_seed=b"", remote_address="10.9.9.9")
    assert body("/latest/meta-data/local-ipv4", build_record(vifs=()), ctx) == "10.9.9.9"
    floating = build_record(
        vifs=(
            model.Vif(
                mac="fa:16:3e:00:00:03",
                fixed_ips=(model.FixedIp("10.0.0.7", 24, floating_ip="203.0.113.7"),),
            ),
        )
    )
    assert body("/latest/meta-data/public-ipv4", floating) == "203.0.113.7"


@pytest.mark.parametrize(
    "raw",
    [
        "/latest/meta-data/hostname/x",  # Nova answers 500 here; the contract says 404
        "/latest/meta-data/security-groups/default",
        "/latest/meta-data/public-keys/0/openssh-key/x",
        "/latest/user-data/x",
        "/latest/nope",
        "/2016-09-02/meta-data/instance-id",
        "/2021-03-23/meta-data/instance-id",
        "/openstack/2019-01-01",
        "/openstack/2019-01-01/meta_data.json",
        "/openstack/latest/meta_data.json/x",
        "/openstack/latest/nope.json",
        "/openstack/2015-10-15/vendor_data2.json",
        "/openstack/2013-04-04/network_data.json",
        "/openstack/2012-08-10/vendor_data.json",
        "/openstack/content/0000",
        "/etc/passwd",
        "/openstack/latest/../../../etc/shadow",
        "/latest/meta-data/\x00",
    ],
)
def test_unknown_paths_are_404_with_novas_body(raw):
    assert get(raw) == render.Reply(
        404, TEXT, b"404 Not Found\n\nThe resource could not be found.\n\n   "
    )


def test_error_bodies():
    assert render.error(400, "Request is too large.").body == (
        b"400 Bad Request\n\nRequest is too large.\n\n   "
    )
    assert render.error(409).status == 409
